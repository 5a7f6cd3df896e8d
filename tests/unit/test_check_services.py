"""``scripts/check_services.py``, run first by ``make test``: it stops at once, with one line per missing piece
that says what to start or install, instead of letting the suite fail minutes later."""

from __future__ import annotations

from scripts import check_services

UNREACHABLE = {"DATABASE_URL": "postgres://postgres@127.0.0.1:1/test", "BROKER_URL": "amqp://guest@127.0.0.1:1//"}


def test_check_services__no_chromium__one_line_saying_what_to_install(tmp_path):
    missing_browser = str(tmp_path / "chromium")
    problems = check_services.problems({}, chromium=missing_browser, check_urls=False)
    assert len(problems) == 1
    assert "\n" not in problems[0]
    assert missing_browser in problems[0] and "apt-get install chromium" in problems[0]


def test_check_services__chromium_present__no_browser_problem(tmp_path):
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    assert check_services.problems({}, chromium=str(browser), check_urls=False) == []


def test_check_services__services_unreachable__says_what_to_start(tmp_path):
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    problems = check_services.problems(UNREACHABLE, chromium=str(browser))
    assert [p.split(" is not")[0].strip() for p in problems] == ["PostgreSQL", "RabbitMQ"]
    assert all("start it with" in p for p in problems)


def test_browser_test__launches_the_chromium_the_check_looks_for():
    from tests.acceptance import test_admin_browser

    assert test_admin_browser.CHROMIUM == check_services.CHROMIUM
