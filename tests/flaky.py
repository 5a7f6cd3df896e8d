"""A transport that refuses a seeded-random share of messages without sending them: broker failures on demand."""

from __future__ import annotations

import random
from collections.abc import Sequence

from outbox.transports.base import PublishReport, Transport
from outbox.wire import Envelope


class FlakyTransport(Transport):
    """Delegates to ``inner`` but reports about ``failure_rate`` of the envelopes as failed, unsent."""

    def __init__(self, inner: Transport, *, failure_rate: float, seed: int) -> None:
        self.inner = inner
        self.failure_rate = failure_rate
        self.rng = random.Random(seed)
        self.injected = 0

    def publish(self, exchange: str, envelopes: Sequence[Envelope], *, mandatory: bool = True,
                timeout: float = 10.0) -> PublishReport:
        dropped = {e.message_id for e in envelopes if self.rng.random() < self.failure_rate}
        self.injected += len(dropped)
        kept = [e for e in envelopes if e.message_id not in dropped]
        report = self.inner.publish(exchange, kept, mandatory=mandatory, timeout=timeout) if kept else PublishReport()
        report.failed.update(dict.fromkeys(dropped, "injected failure (FlakyTransport)"))
        return report

    def close(self) -> None:
        self.inner.close()
