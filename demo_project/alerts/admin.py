from __future__ import annotations

from django.contrib import admin

from demo_project.alerts.models import Alert, PriceMove, Subscription


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["email", "symbol", "threshold_pct"]


@admin.register(PriceMove)
class PriceMoveAdmin(admin.ModelAdmin):
    list_display = ["symbol", "old_price", "new_price", "moved_at"]


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["__str__", "message_id", "expires_at", "created_at"]
