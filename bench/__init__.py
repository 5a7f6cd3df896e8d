"""Benchmarks of the outbox (issue 7): ``python -m bench`` (``make bench``, ``make bench-quick``).

Every figure is the median of several runs and is printed next to its goal; the results are
written to docs/benchmarks.md and docs/benchmarks.png.
"""
