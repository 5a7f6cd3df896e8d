"""The checks both apps' settings share: each value has its setting's type, no ``OUTBOX_*``/``INBOX_*``
name the project sets is a typo, and a broker URL names a registered transport.

A setting's type comes from its default: ``True`` means True or False, ``500`` an integer, ``1.0`` any number,
``"events"`` a non-empty string; a setting whose default is None names its type in ``AppSettings.types``.
So a setting added to an app's DEFAULTS is checked without more code here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

from django.core.checks import CheckMessage, Error, Warning

from outbox.broker_nodes import node_urls
from outbox.conf import AppSettings
from outbox.transports import registry as transports

_WORDS = {bool: "True or False", int: "an integer", float: "a number", str: "a string", list: "a list",
          tuple: "a tuple"}


def expected(app: AppSettings, name: str) -> tuple[type, ...]:
    """The types setting ``name`` takes; () when nothing is declared (no check then)."""
    default = app.defaults[name]
    if default is None:
        return app.types.get(name, ())
    if isinstance(default, float):
        return (int, float)  # 10 means 10.0 seconds
    return (type(default),)


def type_problem(app: AppSettings, name: str, value: Any) -> str | None:
    """What setting ``name`` must be, when ``value`` is not that; None when the value fits."""
    types, optional = expected(app, name), app.defaults[name] is None
    if not types or (optional and value is None):
        return None
    # bool is an int to isinstance(): True must not pass for a batch size.
    fits = isinstance(value, types) and (bool in types or not isinstance(value, bool))
    if fits and (optional or value != ""):
        return None
    words = " or ".join(_WORDS.get(t, t.__name__) for t in types if not (t is int and float in types))
    if str in types and not optional:
        words = "a non-empty string"
    return f"{words}{' or None' if optional else ''}"


def mistyped(app: AppSettings) -> dict[str, str]:
    """The project's settings of the wrong type, each with what it must be; {} when all fit."""
    problems = {name: type_problem(app, name, value) for name, value in app.explicit().items()}
    return {name: problem for name, problem in problems.items() if problem}


def type_errors(app: AppSettings, check_id: str) -> list[CheckMessage]:
    """One error per setting of the wrong type."""
    explicit = app.explicit()
    return [Error(f"{app.prefix}{name} must be {must}, not {explicit[name]!r}.",
                  hint=f"Remove it to use the default ({app.defaults[name]!r}).", id=check_id)
            for name, must in mistyped(app).items()]


def unknown_name_warnings(app: AppSettings, check_id: str) -> list[CheckMessage]:
    """One warning per ``<prefix>*`` setting that is no setting of the app, with the closest one's name."""
    warnings: list[CheckMessage] = []
    for name in app.unknown():
        # Compared without the prefix, which every name shares and which would make any two names look alike.
        close = difflib.get_close_matches(name[len(app.prefix):], list(app.defaults), n=1)
        hint = (f"Did you mean {app.prefix}{close[0]}?" if close else
                f"No {app.prefix}* setting is called that: the README's configuration table lists them all.")
        warnings.append(Warning(f"{name} is not a setting of the {app.prefix[:-1].lower()} app; it has no effect.",
                                hint=hint, id=check_id))
    return warnings


def scheme_errors(url: object, app: str, error_id: str) -> list[CheckMessage]:
    """``error_id`` for each scheme of ``url``'s nodes that no transport is registered for (see
    outbox/transports/registry.py); [] when every node's scheme has one."""
    unknown = sorted({transports.scheme_of(node) for node in node_urls(url)} - set(transports.schemes()))
    return [Error(f"Unsupported {app} broker URL scheme in {scheme!r}.",
                  hint=f"Use one of the registered transports: {', '.join(f'{s}://' for s in transports.schemes())} "
                       "(amqp:// for RabbitMQ, memory:// for tests and the demo).", id=error_id) for scheme in unknown]


def range_errors(app_settings: AppSettings, error_id: str, *, non_negative_ints: Sequence[str] = (),
                 positive_ints: Sequence[str] = (), positive_floats: Sequence[str] = ()) -> list[CheckMessage]:
    """``error_id`` for each named setting outside its range: whole numbers of at least 0 or 1, numbers above 0.
    A setting of the wrong type is skipped here: :func:`type_errors` reports it, once. [] when all are in range."""
    wrong_type = mistyped(app_settings)
    rules = [(name, _whole_at_least(0), "an integer of 0 or more") for name in non_negative_ints]
    rules += [(name, _whole_at_least(1), "a positive integer") for name in positive_ints]
    rules += [(name, _above_zero, "a positive number") for name in positive_floats]
    return [Error(f"{app_settings.prefix}{name} must be {what}, not {getattr(app_settings, name)!r}.",
                  hint=f"Remove it to use the default ({app_settings.defaults[name]}).", id=error_id)
            for name, fits, what in rules if name not in wrong_type and not fits(getattr(app_settings, name))]


def _whole_at_least(minimum: int) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _above_zero(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
