"""The peers table of ``make bench-peers`` (bench/peers/report.py): medians, ratios, and peers that did not run."""

from __future__ import annotations

import math

from bench.peers.project import distribution, django_database
from bench.peers.report import PeerResult, ratio, table_lines


def _ours(*runs: float) -> PeerResult:
    return PeerResult("ours", "yes", versions={"ours": "0.2.0"}, runs=list(runs))


def test_ratio__medians_of_both__ours_over_peer() -> None:
    peer = PeerResult("peer", "no", runs=[900.0, 1000.0, 5000.0])

    assert ratio(_ours(3100.0, 3000.0, 100.0), peer) == 3.0


def test_ratio__peer_without_runs__is_nan() -> None:
    assert math.isnan(ratio(_ours(3000.0), PeerResult("peer", "no")))


def test_table__measured_peer__row_has_median_every_run_and_ratio() -> None:
    peer = PeerResult("peer", "no (STOMP)", versions={"peer": "3.2.1"}, runs=[1000.0, 1500.0, 1200.0])

    lines = table_lines(_ours(3000.0, 3600.0, 3300.0), [peer])

    assert lines[2] == "| ours | 0.2.0 | yes | 3,300 | 3,000, 3,600, 3,300 | 1.00x |"
    assert lines[3] == "| peer | 3.2.1 | no (STOMP) | 1,200 | 1,000, 1,500, 1,200 | 2.75x |"


def test_table__peer_not_run__says_why_instead_of_a_rate() -> None:
    peer = PeerResult("peer", "no", failure="not run: nothing listens on port 61613")

    row = table_lines(_ours(3000.0), [peer])[3]

    assert row == "| peer | - | no | - | not run: nothing listens on port 61613 | - |"


def test_table__peer_failed_after_some_runs__keeps_them_and_says_why() -> None:
    peer = PeerResult("peer", "no", runs=[1000.0], failure="run 2 failed")

    row = table_lines(_ours(3000.0), [peer])[3]

    assert row == "| peer | - | no | 1,000 | 1,000 (run 2 failed) | 3.00x |"


def test_distribution__pinned_requirement_with_extras__is_its_name() -> None:
    assert distribution("psycopg[binary]==3.3.9") == "psycopg"
    assert distribution("django-outbox-pattern==3.2.1") == "django-outbox-pattern"


def test_django_database__url_with_credentials__becomes_settings_entry() -> None:
    assert django_database("postgres://user:p%40ss@db.local:5433/outbox_bench_peer_x") == {
        "ENGINE": "django.db.backends.postgresql", "NAME": "outbox_bench_peer_x", "USER": "user",
        "PASSWORD": "p@ss", "HOST": "db.local", "PORT": "5433"}
