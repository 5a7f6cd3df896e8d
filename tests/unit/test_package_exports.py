"""``outbox`` and ``inbox`` export their public API lazily: importing the packages imports no models (so it
works before the app registry is ready), and each name resolves to the object its module defines."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import inbox
import outbox

ROOT = Path(__file__).resolve().parents[2]
EXPORTS = [
    ("outbox", "publish", "outbox.publisher"),
    ("outbox", "publish_many", "outbox.publisher"),
    ("outbox", "OutgoingMessage", "outbox.publisher"),
    ("outbox", "send_task", "outbox.celery_dispatch"),
    ("inbox", "handler", "inbox.registry"),
    ("inbox", "Message", "inbox.message"),
    ("inbox", "IdempotentTask", "inbox.celery_tasks"),
    ("inbox", "idempotent_task", "inbox.celery_tasks"),
    ("inbox", "BusinessError", "inbox.exceptions"),
    ("inbox", "InboxError", "inbox.exceptions"),
]


@pytest.mark.parametrize(("package", "name", "module"), EXPORTS)
def test_export__is_the_object_its_module_defines(package, name, module):
    assert getattr(importlib.import_module(package), name) is getattr(importlib.import_module(module), name)


def test_exports__all_names_listed_in_dunder_all():
    for package in (outbox, inbox):
        assert sorted(package.__all__) == sorted(name for p, name, _ in EXPORTS if p == package.__name__)


def test_from_import__works_as_before():
    from inbox import Message, handler
    from outbox import OutgoingMessage, publish

    assert publish.__module__ == "outbox.publisher" and OutgoingMessage.__module__ == "outbox.publisher"
    assert handler.__module__ == "inbox.registry" and Message.__module__ == "inbox.message"


@pytest.mark.parametrize("package", [outbox, inbox])
def test_unknown_name__attribute_error_naming_the_package(package):
    with pytest.raises(AttributeError, match=f"module '{package.__name__}' has no attribute 'nothing_here'"):
        package.nothing_here  # noqa: B018 - the access is the test
    assert not hasattr(package, "nothing_here")


def test_import__before_django_is_set_up__imports_no_models_nor_exported_modules():
    script = ("import sys, outbox, inbox\n"
              "print(' '.join(sorted(m for m in sys.modules if m.startswith(('outbox', 'inbox', 'django')))))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            env={"PATH": os.environ.get("PATH", "")}, cwd=ROOT)  # no DJANGO_SETTINGS_MODULE
    loaded = set(result.stdout.split())
    assert {"outbox", "inbox", "outbox.exports"} <= loaded
    assert not loaded & {"django.db.models", "django.apps", "outbox.models", "inbox.models", "outbox.publisher",
                         "outbox.celery_dispatch", "inbox.registry", "inbox.message", "inbox.celery_tasks"}
