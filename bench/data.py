"""Benchmark data: ~1 KiB JSON payloads, pending backlogs (``publish_many``), retained sent rows."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction

from bench.env import OUTBOX_TABLE, TOPIC, scalar, sql

PAYLOAD_SIZE = 1024
CHUNK = 1000
RETAINED_TOPIC = "bench.retained"
DOMAIN_TABLE = "bench_domain"
BACKLOG_TABLE = "bench_backlog"


def payload(seq: int, size: int = PAYLOAD_SIZE) -> dict[str, Any]:
    """A JSON object whose compact encoding is ``size`` bytes (for seq < 10**9)."""
    head = len(json.dumps({"seq": seq, "pad": ""}, separators=(",", ":")))
    return {"seq": seq, "pad": "x" * max(0, size - head)}


def reset_outbox() -> None:
    """Empty the outbox tables (and their indexes) completely."""
    sql(f"TRUNCATE {OUTBOX_TABLE}, outbox_outboxkey")


def add_backlog(count: int, keys: int = 0) -> None:
    """Write ``count`` pending messages with ``outbox.publish_many``, CHUNK per transaction (not timed);
    with ``keys``, message n has ordering key ``n % keys`` (so each key holds count/keys messages)."""
    import outbox

    for start in range(0, count, CHUNK):
        messages = [outbox.OutgoingMessage(TOPIC, payload(seq), key=f"key-{seq % keys}" if keys else None)
                    for seq in range(start, min(count, start + CHUNK))]
        with transaction.atomic():
            outbox.publish_many(messages)


def load_backlog(count: int, keys: int = 0) -> None:
    """Add ``count`` pending messages: written with ``publish_many`` the first time, then kept in a
    snapshot table and copied back with one INSERT ... SELECT (the same rows, ~10x faster)."""
    table = f"{BACKLOG_TABLE}_{keys}_keys" if keys else BACKLOG_TABLE
    exists = scalar("SELECT to_regclass(%s) IS NOT NULL", [table])
    if exists and int(scalar(f"SELECT count(*) FROM {table}")) == count:
        sql(f"INSERT INTO {OUTBOX_TABLE} SELECT * FROM {table}")
        return
    add_backlog(count, keys)
    sql(f"DROP TABLE IF EXISTS {table}")
    sql(f"CREATE TABLE {table} AS SELECT * FROM {OUTBOX_TABLE} WHERE topic = %s AND status = 'pending'", [TOPIC])


def remove_backlog() -> None:
    """Delete the rows that came from BACKLOG_TABLE (sent by now), keeping every other row."""
    sql(f"DELETE FROM {OUTBOX_TABLE} WHERE id IN (SELECT id FROM {BACKLOG_TABLE})")


def settle() -> None:
    """VACUUM ANALYZE and CHECKPOINT, as a standing table would be, so timed runs start alike."""
    sql(f"VACUUM (ANALYZE) {OUTBOX_TABLE}")
    sql("CHECKPOINT")


def add_retained(count: int) -> None:
    """Insert ``count`` already-sent messages in one INSERT ... SELECT generate_series (fast).

    The column list comes from the model, so a new column gets its model default.
    """
    from django.db import connection

    from outbox.models import OutboxMessage, Status

    pad = "x" * (PAYLOAD_SIZE - len('{"seq":0,"pad":""}'))
    special = {"id": "s.id", "payload": "jsonb_build_object('seq', s.g, 'pad', %s::text)",
               "correlation_id": "s.id::text", "created_at": "s.at", "available_at": "s.at", "sent_at": "s.at"}
    template = OutboxMessage(topic=RETAINED_TOPIC, payload={}, status=Status.SENT)
    columns, values, params = [], [], []
    for field in OutboxMessage._meta.concrete_fields:
        columns.append(connection.ops.quote_name(str(field.column)))
        values.append(special.get(field.name, "%s"))
        if field.name == "payload":
            params.append(pad)
        elif field.name not in special:
            params.append(field.get_db_prep_save(getattr(template, field.attname), connection))
    sql(f"""INSERT INTO {OUTBOX_TABLE} ({", ".join(columns)}) SELECT {", ".join(values)}
        FROM (SELECT g, gen_random_uuid() AS id, now() - interval '1 day' AS at
              FROM generate_series(1, %s) AS g) AS s""", [*params, count])


def pending_count() -> int:
    return int(scalar(f"SELECT count(*) FROM {OUTBOX_TABLE} WHERE status = 'pending'"))


def bytes_per_row() -> float:
    """pg_total_relation_size (heap, TOAST and every index) divided by the row count."""
    rows = int(scalar(f"SELECT count(*) FROM {OUTBOX_TABLE}"))
    size = int(scalar("SELECT pg_total_relation_size(%s)", [OUTBOX_TABLE]))
    return size / rows if rows else 0.0


def create_domain_table() -> None:
    """A plain domain table for the write-cost benchmark (raw SQL: no model, no migration)."""
    sql(f"""CREATE TABLE IF NOT EXISTS {DOMAIN_TABLE} (
        id bigserial PRIMARY KEY, name text NOT NULL, amount integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now())""")
    sql(f"TRUNCATE {DOMAIN_TABLE}")


def reset_orm_domain() -> None:
    """Empty the ORM domain table of the write-cost benchmark (the demo's ``alerts.PriceMove``)."""
    from demo_project.alerts.models import PriceMove

    sql(f"TRUNCATE {PriceMove._meta.db_table} CASCADE")
