"""Subscriptions, price moves, and the alerts they raised."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone


class Subscription(models.Model):
    """Someone who wants an e-mail when a stock moves by at least ``threshold_pct``."""

    email = models.EmailField(help_text="Where alerts go.")
    symbol = models.CharField(max_length=12, help_text="Ticker symbol, e.g. ACME.")
    threshold_pct = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal(5),
                                        help_text="Smallest move, in percent, worth an alert.")

    def __str__(self) -> str:
        return f"{self.email} on {self.symbol} ±{self.threshold_pct}%"


class PriceMove(models.Model):
    """A price change the market feed reported."""

    symbol = models.CharField(max_length=12, help_text="Ticker symbol.")
    old_price = models.DecimalField(max_digits=12, decimal_places=2, help_text="Price before.")
    new_price = models.DecimalField(max_digits=12, decimal_places=2, help_text="Price after.")
    moved_at = models.DateTimeField(default=timezone.now, help_text="When the feed reported it.")

    def __str__(self) -> str:
        return f"{self.symbol} {self.old_price} → {self.new_price}"

    @property
    def change_pct(self) -> Decimal:
        return (self.new_price - self.old_price) / self.old_price * 100


class Alert(models.Model):
    """An alert raised for one subscriber; its e-mail is sent by the ``alerts.send-price-alert`` consumer."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, help_text="Who it is for.")
    price_move = models.ForeignKey(PriceMove, on_delete=models.CASCADE, help_text="The move that raised it.")
    message_id = models.CharField(max_length=255, db_index=True, help_text="The outbox message announcing it.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Worthless after this (flash alerts).")
    created_at = models.DateTimeField(default=timezone.now, help_text="When it was raised.")

    def __str__(self) -> str:
        return f"{self.price_move} for {self.subscription.email}"
