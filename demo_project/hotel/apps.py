from __future__ import annotations

from django.apps import AppConfig


class HotelConfig(AppConfig):
    name = "demo_project.hotel"
    label = "hotel"
    verbose_name = "Hotel booking (front desk, payments, hotel)"
    default_auto_field = "django.db.models.BigAutoField"
