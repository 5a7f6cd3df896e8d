"""Which database alias a write goes to, and the rule that keeps a message in its caller's transaction.

Django's ``QuerySet.db`` is the router's *read* alias for a queryset built to be read (the admin's changelist,
``Model.objects.all()``): with a read-replica router, writing through it writes to the replica. Writes here
go to :func:`write_alias` instead. The outbox and inbox depend on atomicity with the caller's data, so a
router that splits them from it is an error (see :func:`routing_errors`, run by both apps' system checks).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.checks import CheckMessage, Error
from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.models import Model, QuerySet

from outbox.exceptions import TransactionMismatch


def model_write_alias(model: type[Model]) -> str:
    """The alias the router writes ``model`` to (the default when no router says)."""
    return router.db_for_write(model) or DEFAULT_DB_ALIAS


def write_alias(queryset: QuerySet[Any]) -> str:
    """The alias that writes to ``queryset``'s rows go to: the one it was bound to with ``using()``, else the
    router's write alias (never its read alias, which ``queryset.db`` gives for a queryset built to be read)."""
    # _db is set by using(); Django has no public accessor that tells it apart from the routed alias.
    bound: str | None = getattr(queryset, "_db", None)
    hints: dict[str, Any] = getattr(queryset, "_hints", {})
    return bound or router.db_for_write(queryset.model, **hints) or DEFAULT_DB_ALIAS


def for_writing(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """``queryset`` bound to its write alias: the rows to change are read where they are changed (a replica
    may lag behind)."""
    return queryset.using(write_alias(queryset))


def check_in_callers_transaction(alias: str) -> None:
    """Raise :class:`TransactionMismatch` when ``alias`` is not in an atomic block while another alias is:
    the caller works in a transaction that the message would not be part of."""
    if connections[alias].in_atomic_block:
        return
    others = [other.alias for other in connections.all(initialized_only=True)
              if other.alias != alias and other.in_atomic_block]
    if others:
        busy = ", ".join(map(repr, others))
        raise TransactionMismatch(
            f"publish() writes to database {alias!r}, which is not in a transaction, while {busy} is: the "
            f"message would not commit or roll back with the caller's work. Open the transaction on "
            f"{alias!r} (transaction.atomic(using={alias!r})), pass using= to publish(), or route the outbox's "
            "writes to the caller's database")


def routing_errors(model: type[Model], ids: tuple[str, str]) -> list[CheckMessage]:
    """An error when the router writes ``model`` to an alias where it may not be migrated (a replica, say),
    or to one that holds none of the project's own models: its rows could never share a transaction with
    the data they are about. [] when the router leaves it with the project's data."""
    alias = model_write_alias(model)
    name = model.__name__
    if not router.allow_migrate_model(alias, model):
        return [Error(f"The database router writes {name} to {alias!r}, where its table is not migrated.",
                      hint=f"Route {name} writes (db_for_write) to the database that holds your data and the "
                           f"{model._meta.app_label} app's migrations.", id=ids[0])]
    own = _own_write_aliases(model._meta.app_label)
    if own and alias not in own:
        return [Error(f"The database router writes {name} to {alias!r}, but none of your models is written there "
                      f"(they go to {', '.join(map(repr, sorted(own)))}).",
                      hint=f"Its rows must be written in the same transaction as the data they are about: route "
                           f"{name} writes (db_for_write) to that database.", id=ids[1])]
    return []


def _own_write_aliases(exclude_app: str) -> set[str]:
    """Write aliases of the project's models: not Django's own apps, not the outbox or inbox."""
    return {model_write_alias(model) for model in apps.get_models()
            if model._meta.app_label not in (exclude_app, "outbox", "inbox")
            and not model.__module__.startswith("django.")}
