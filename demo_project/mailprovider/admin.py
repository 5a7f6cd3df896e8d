from __future__ import annotations

from django.contrib import admin

from demo_project.mailprovider.models import ApiCall, Email, Incident


@admin.register(Email)
class EmailAdmin(admin.ModelAdmin):
    list_display = ["__str__", "subject", "idempotency_key", "accepted_at"]
    search_fields = ["to", "idempotency_key", "reference"]


@admin.register(ApiCall)
class ApiCallAdmin(admin.ModelAdmin):
    list_display = ["at", "outcome", "to", "idempotency_key", "detail"]
    list_filter = ["outcome"]
    search_fields = ["to", "idempotency_key"]


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["kind", "target", "note", "starts_at", "ends_at", "fixed_at"]
    list_filter = ["kind"]
