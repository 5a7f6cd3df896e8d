"""A new user's first hour: the built wheel, installed into a new virtual environment (nothing from this
checkout on its path), in a project made with ``django-admin startproject``, set up by the README's first
screen alone: publish in a transaction, relay, consume; the handler's effect happens once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from kombu import Connection

pytestmark = [pytest.mark.acceptance]

REPO = Path(__file__).resolve().parents[2]
#: What this process's environment must not hand to the new project (it would load the repository's settings).
NOT_INHERITED = ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DATABASE_URL", "BROKER_URL",
                 "INBOX_QUEUE", "PYTHONSTARTUP")

PRODUCER = '''
from django.db import transaction

import outbox

from orders.models import Order


def place_order(total: str) -> Order:
    with transaction.atomic():
        order = Order.objects.create(total=total)
        outbox.publish("orders.placed", {"order_id": order.pk, "total": str(order.total)}, key=f"order-{order.pk}")
    return order
'''
CONSUMER = '''
import inbox

from billing.models import Invoice


@inbox.handler("orders.placed")
def charge(message: inbox.Message) -> None:
    Invoice.objects.create(order_id=message.payload["order_id"], total=message.payload["total"])
'''
ORDER_MODEL = ("from django.db import models\n\n\nclass Order(models.Model):\n"
               "    total = models.DecimalField(max_digits=10, decimal_places=2)\n")
INVOICE_MODEL = ("from django.db import models\n\n\nclass Invoice(models.Model):\n"
                 "    order_id = models.IntegerField()\n    total = models.CharField(max_length=20)\n")


def readme_settings() -> str:
    """The settings lines of the README's first screen (its first Python block), as a user copies them."""
    readme = (REPO / "README.md").read_text()
    return re.search(r"```python\n(.*?)```", readme, flags=re.DOTALL).group(1)


def run(*args: str | Path, cwd: Path, env: dict[str, str], timeout: float = 180) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def built_wheel(dist: Path, env: dict[str, str]) -> Path:
    """``pip wheel .``, checked: setuptools has nothing to warn about, and the templates, the type marker and
    the migrations are in the wheel."""
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", str(dist)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    assert re.findall(r"\w+Warning\b.*", done.stdout + done.stderr) == []
    [wheel] = dist.glob("django_outbox_inbox-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for app in ("outbox", "inbox"):
        assert f"{app}/py.typed" in names and f"{app}/migrations/0001_initial.py" in names
        assert any(name.startswith(f"{app}/templates/admin/{app}/") and name.endswith(".html") for name in names)
    return wheel


@pytest.fixture
def clean_env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}


@pytest.fixture
def fresh_database() -> Iterator[dict[str, str]]:
    """A new, empty PostgreSQL database on the test server, dropped afterwards."""
    server = settings.DATABASES["default"]
    params = {"host": server.get("HOST") or "127.0.0.1", "port": str(server.get("PORT") or 5432),
              "user": server.get("USER") or "postgres", "password": server.get("PASSWORD") or ""}
    name = f"fresh_install_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield {"name": name, **params}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def broker_names() -> Iterator[tuple[str, str]]:
    """An exchange and a queue of this test's own, deleted afterwards."""
    exchange, queue = f"fresh-events-{uuid.uuid4().hex[:8]}", f"fresh-billing-{uuid.uuid4().hex[:8]}"
    yield exchange, queue
    with Connection(settings.OUTBOX_BROKER_URL) as conn:
        channel = conn.default_channel
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)


def test_fresh_install__wheel_in_a_new_project_by_the_readme__handler_applies_the_message_once(
        tmp_path, clean_env, fresh_database, broker_names):
    wheel = built_wheel(tmp_path / "dist", clean_env)
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path, env=clean_env)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", wheel, "psycopg[binary]", cwd=tmp_path, env=clean_env)

    run(venv / "bin" / "django-admin", "startproject", "shop", cwd=tmp_path, env=clean_env)
    project = tmp_path / "shop"
    for app, model, module, code in (("orders", ORDER_MODEL, "services.py", PRODUCER),
                                     ("billing", INVOICE_MODEL, "handlers.py", CONSUMER)):
        run(python, "manage.py", "startapp", app, cwd=project, env=clean_env)
        (project / app / "models.py").write_text(model)
        (project / app / module).write_text(code)

    exchange, queue = broker_names
    snippet = readme_settings()
    snippet = re.sub(r'OUTBOX_BROKER_URL = "[^"]*"', f'OUTBOX_BROKER_URL = "{settings.OUTBOX_BROKER_URL}"', snippet)
    snippet = re.sub(r'INBOX_QUEUE = "[^"]*"', f'INBOX_QUEUE = "{queue}"', snippet)
    db = fresh_database
    with (project / "shop" / "settings.py").open("a") as settings_file:
        settings_file.write(f"\n# django-outbox-inbox, from the README\n{snippet}\n"
                            f'INSTALLED_APPS += ["orders", "billing"]\nOUTBOX_EXCHANGE = "{exchange}"\n'
                            f'DATABASES = {{"default": {{"ENGINE": "django.db.backends.postgresql", '
                            f'"NAME": "{db["name"]}", "USER": "{db["user"]}", "PASSWORD": "{db["password"]}", '
                            f'"HOST": "{db["host"]}", "PORT": "{db["port"]}"}}}}\n')

    manage = (python, "manage.py")
    run(*manage, "makemigrations", "orders", "billing", cwd=project, env=clean_env)
    run(*manage, "migrate", cwd=project, env=clean_env)
    run(*manage, "inbox_consume", "--once", "--idle-timeout", "0.2", cwd=project, env=clean_env)  # declares the queue
    run(*manage, "shell", "-c", "from orders.services import place_order; place_order('12.50')", cwd=project,
        env=clean_env)
    assert "sent 1," in run(*manage, "outbox_relay", "--once", cwd=project, env=clean_env)
    consumed = run(*manage, "inbox_consume", "--once", "--idle-timeout", "0.5", cwd=project, env=clean_env)
    assert "processed: applied 1;" in consumed, consumed
    # The same message once more (what a relay crash before recording "sent" does): the inbox drops the copy.
    run(*manage, "outbox_replay", "--sent", "--all", cwd=project, env=clean_env)
    assert "sent 1," in run(*manage, "outbox_relay", "--once", cwd=project, env=clean_env)
    consumed = run(*manage, "inbox_consume", "--once", "--idle-timeout", "0.5", cwd=project, env=clean_env)
    assert "processed: duplicate 1;" in consumed, consumed

    invoices = run(*manage, "shell", "-v", "0", "-c",
                   "from billing.models import Invoice; print(list(Invoice.objects.values_list('order_id', 'total')))",
                   cwd=project, env=clean_env)
    assert invoices.strip() == "[(1, '12.50')]"
