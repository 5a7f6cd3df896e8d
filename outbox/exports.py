"""The lazy public API of the ``outbox`` and ``inbox`` packages.

``import outbox`` and ``import inbox`` must work before Django's app registry is ready (in settings
modules, in ``apps.py``, in Celery's start-up), yet ``outbox.publish`` and ``inbox.handler`` live in
modules that import models. So each package names its exports here, and the module is imported on first
access (PEP 562 module ``__getattr__``). This module imports nothing of Django.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``exports`` maps each public name to the module that
    defines it, imported on the first access of the name. Any other name raises AttributeError."""

    def module_getattr(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return module_getattr
