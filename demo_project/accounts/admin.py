from __future__ import annotations

from django.contrib import admin

from demo_project.accounts.models import Account, PasswordHistoryEntry


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["username", "email", "password_changed_at"]
    readonly_fields = ["password_hash"]


@admin.register(PasswordHistoryEntry)
class PasswordHistoryEntryAdmin(admin.ModelAdmin):
    list_display = ["username", "changed_at", "message_id"]
    search_fields = ["username", "message_id"]
