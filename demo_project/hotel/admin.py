from __future__ import annotations

from django.contrib import admin

from demo_project.hotel.models import Booking, CardAuthorisation, GuestNotice, Hotel, Invoice, Reservation


class GuestNoticeInline(admin.TabularInline):
    model = GuestNotice
    extra = 0
    readonly_fields = ["text", "message_id", "created_at"]


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "reason", "amount", "created_at", "decided_at"]
    list_filter = ["status"]
    inlines = [GuestNoticeInline]


@admin.register(Hotel)
class HotelAdmin(admin.ModelAdmin):
    list_display = ["name", "rooms", "booked", "nightly_rate"]


@admin.register(CardAuthorisation)
class CardAuthorisationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "amount", "status", "created_at", "released_at"]
    list_filter = ["status"]


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ["__str__", "created_at"]


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["__str__", "amount", "task_id", "created_at"]
