"""The consumers of ``accounts.password_changed`` (autodiscovered by the inbox app)."""

from __future__ import annotations

import inbox
from demo_project.accounts import consumers
from demo_project.accounts.passwords import PASSWORD_CHANGED


@inbox.handler(PASSWORD_CHANGED, name="accounts.password-history")
def record_password_history(message: inbox.Message) -> None:
    consumers.record_history(message.payload, message.id)


# Mail provider hiccups are retried: twice at once, then three times with exponential back-off and
# jitter from 50 ms (seconds to hours in production; tiny here so the demo runs in seconds).
@inbox.handler(PASSWORD_CHANGED, name="accounts.security-email", immediate_retries=2, delayed_retries=3,
               backoff="exponential_jitter", backoff_base=0.05, backoff_cap=1.0)
def send_security_email(message: inbox.Message) -> None:
    consumers.send_security_notice(message.payload, message.id)
