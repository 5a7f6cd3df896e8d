"""The price-alert consumer (autodiscovered by the inbox app).

Retry policy, scaled down so the demo runs in seconds (seed 003 uses minutes and 24 hours): no
immediate retry (a mail service that failed a moment ago fails again now), three delayed retries
with exponential back-off and jitter from 50 ms, then the message is dead until an operator
retries it. Four attempts stay under the breaker's five consecutive failures, so one recipient's
bug does not look like an outage; a real outage does, and the handler's circuit breaker
(INBOX_BREAKER_*) stops calling the provider without spending the messages' retries. An alert is
worthless a minute after the move (``ttl``); flash alerts carry a shorter expiry of their own.
No fault message when an alert is dead (``faults=False``): nobody subscribes to price alerts' faults,
a dead alert is for an operator to retry.
"""

from __future__ import annotations

import inbox
from demo_project.alerts import notify
from demo_project.alerts.pricing import PRICE_ALERT


@inbox.handler(PRICE_ALERT, name="alerts.send-price-alert", immediate_retries=0, delayed_retries=3,
               backoff="exponential_jitter", backoff_base=0.05, backoff_cap=0.5, ttl=60,
               faults=False)
def send_price_alert(message: inbox.Message) -> None:
    notify.send_alert(message.payload, message.id)
