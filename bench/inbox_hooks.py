"""Hooks for the two INBOX figures. NOT MEASURED YET: the inbox does not exist; the lead fills these in.

Each hook returns a :class:`bench.figures.Figure`; replace ``not_measured`` with a real measurement.
"""

from __future__ import annotations

from bench.config import Config
from bench.figures import Figure, not_measured


def inbox_dedup_throughput_ratio(config: Config, broker_url: str) -> Figure:
    """TODO(inbox): consumer throughput with the inbox's dedup table / without it (goal >= 0.9 suggested).

    Suggested method: publish ``config.messages`` messages, consume them with and without the
    inbox handler (one transaction per message, same handler body), compare msg/s.
    """
    return not_measured("Inbox dedup throughput ratio", "set by the lead")


def inbox_duplicates_x3(config: Config, broker_url: str) -> Figure:
    """TODO(inbox): deliver every message 3 times; effects applied exactly once, and the rate of that.

    Suggested method: publish each message id 3 times (as a relay re-send would), consume, count
    handler effects (must equal distinct ids) and report msg/s with 3x duplicates.
    """
    return not_measured("Inbox duplicates x3", "set by the lead")


def inbox_figures(config: Config, broker_url: str) -> list[Figure]:
    """Both inbox figures (currently placeholders)."""
    return [inbox_dedup_throughput_ratio(config, broker_url), inbox_duplicates_x3(config, broker_url)]
