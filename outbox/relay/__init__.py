"""The relay: claim due outbox messages, publish them, record the broker's verdict.

- ``relay.py``: one round and the drain loop (:class:`Relay`, :func:`drain`); the fenced recording of results.
- ``claimed.py``: what a claim returns (the claim's query itself is ``OutboxMessageQuerySet.claim`` in
  ``outbox/models.py``); ``leases.py``: renewing the leases of a batch in flight.
- ``worker.py``: the long-running loop of ``manage.py outbox_relay``; ``listener.py``: its LISTEN/NOTIFY wait.
- ``wakeup.py``: waking a relay after a publishing transaction commits.

``outbox.relay.drain``, ``Relay``, ``RelayResult`` and ``default_relay`` are imported lazily, so that a module
of this package (``claimed``, used by the models) does not drag in the relay itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from outbox.exports import lazy_exports

if TYPE_CHECKING:
    from outbox.relay.relay import Relay, RelayResult, default_relay, drain

__all__ = ["Relay", "RelayResult", "default_relay", "drain"]
__getattr__ = lazy_exports(__name__, {"Relay": "outbox.relay.relay", "RelayResult": "outbox.relay.relay",
                                      "default_relay": "outbox.relay.relay", "drain": "outbox.relay.relay"})
