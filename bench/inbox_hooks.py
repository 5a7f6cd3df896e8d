"""The INBOX figures (issue 7), from the runs of :mod:`bench.inbox_rate`.

- **inbox**: consumer throughput with the dedup record / the same consumer without it; goal >= 0.8.
- **duplicates**: every message delivered 3 times; goal: exactly N effects for N distinct messages,
  and deliveries/s of that run >= 0.8 x deliveries/s of the single-delivery run with dedup.
- **size**: bytes per processed inbox row, indexes included (reported).
"""

from __future__ import annotations

from bench.figures import Figure, at_least, reported
from bench.inbox_rate import WITH, WITHOUT, X3, InboxRates
from bench.stats import median

DEDUP_GOAL = 0.8
DUPLICATES_GOAL = 0.8


def inbox_dedup_throughput_ratio(rates: InboxRates) -> list[Figure]:
    """Both single-delivery rates and their ratio (with dedup / without; goal >= 0.8)."""
    without, with_dedup = median(rates.runs[WITHOUT]), median(rates.runs[WITH])
    return [reported("inbox consumer without dedup", without, "msg/s"),
            reported("inbox consumer with dedup", with_dedup, "msg/s"),
            at_least("inbox dedup ratio (with / without)", with_dedup / without, DEDUP_GOAL, "x")]


def inbox_duplicates_x3(rates: InboxRates) -> list[Figure]:
    """Deliveries/s with every message delivered 3 times, its ratio to the x1 run with dedup, and
    the effects check: the figure fails, whatever the rate, unless every dedup run applied exactly N."""
    x3, x1 = median(rates.runs[X3]), median(rates.runs[WITH])
    applied = (f"effects per run with dedup (x1 and x3): {', '.join(f'{n:,}' for n in rates.effects)}, "
               f"for {rates.messages:,} messages")
    ratio = at_least("inbox duplicates x3 (deliveries/s, x3 / x1)", x3 / x1, DUPLICATES_GOAL, "x",
                     f"exactly once; {applied}")
    if not rates.exactly_once:
        ratio = Figure(ratio.name, ratio.value, ratio.unit, ratio.goal, False, f"NOT exactly once; {applied}")
    return [reported("inbox consumer, every message x3", x3, "deliveries/s",
                     f"{3 * rates.messages:,} deliveries of {rates.messages:,} messages"), ratio]


def inbox_row_size(rates: InboxRates) -> Figure:
    """Bytes per processed inbox row (heap, TOAST, indexes) after VACUUM FULL; as written in the detail."""
    return reported("size per inbox row (with indexes)", rates.bytes_compact, "B",
                    f"compacted; {rates.bytes_written:,.0f} B as the consumer left the table")


def inbox_figures(rates: InboxRates) -> list[Figure]:
    """Every inbox figure, in table order."""
    return [*inbox_dedup_throughput_ratio(rates), *inbox_duplicates_x3(rates), inbox_row_size(rates)]
