"""One process on the embedded default (SQLite + ``memory://``): publish, roll back, relay, read the queue.

``python -m tests.acceptance.embedded_flow <committed-id> <committed-id> <committed-id> <rolled-back-id>``
prints ``{"sent": <relay's count>, "received": [message ids in arrival order]}`` as JSON on stdout.
"""

from __future__ import annotations

import json
import sys


class DomainFailure(Exception):
    pass


def main(committed: list[str], rolled_back: str) -> None:
    import django

    django.setup()
    from django.db import transaction

    import outbox
    from outbox.conf import outbox_settings
    from outbox.relay import Relay
    from tests.memory_broker import MemoryBoundQueue

    assert outbox_settings.BROKER_URL == "memory://", outbox_settings.BROKER_URL
    queue = MemoryBoundQueue(outbox_settings.EXCHANGE, "orders.#")
    with transaction.atomic():
        for n, message_id in enumerate(committed):
            outbox.publish("orders.placed", {"order": n}, key="order", message_id=message_id)
    try:
        with transaction.atomic():
            outbox.publish("orders.cancelled", {"order": 0}, key="order", message_id=rolled_back)
            raise DomainFailure
    except DomainFailure:
        pass
    relay = Relay()
    sent = relay.drain().sent
    relay.close()
    received = [r.message_id for r in queue.settle(0.2)]
    queue.close()
    print(json.dumps({"sent": sent, "received": received}))


if __name__ == "__main__":
    main(sys.argv[1:-1], sys.argv[-1])
