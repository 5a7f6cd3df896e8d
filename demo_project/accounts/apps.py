from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "demo_project.accounts"
    label = "accounts"
    verbose_name = "Accounts (password change)"
    default_auto_field = "django.db.models.BigAutoField"
