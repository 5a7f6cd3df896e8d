"""The alert e-mail, sent through the (flaky) mail provider."""

from __future__ import annotations

from typing import Any

from demo_project.mailprovider import api as mail_api


def send_alert(alert: dict[str, Any], message_id: str) -> str:
    """E-mail one price alert; returns the provider's e-mail id. Raises the provider's errors (retried)."""
    direction = "up" if float(alert["change_pct"]) > 0 else "down"
    return mail_api.send(
        idempotency_key=f"price-alert:{message_id}", to=alert["email"], reference=message_id,
        subject=f"{alert['symbol']} is {direction} {abs(float(alert['change_pct'])):.1f}%",
        body=f"{alert['symbol']} moved from {alert['old_price']} to {alert['new_price']}.")
