"""The seeds' scenarios. Each module offers the same few names, gathered in :data:`SCENARIOS`:

- ``KEY``, ``TITLE``, ``STORY``: how the scenario is named and introduced;
- ``TOPICS``: the topic patterns of its messages (the tally counts them per scenario);
- ``run(driver)``: does it, waiting for the database to reach each state;
- ``effects()``: (name, message-id values) pairs; a value seen twice is an effect applied twice;
- ``facts()``: (numbers, readable lines, problems) about its own tables.
"""

from __future__ import annotations

from types import ModuleType

from demo_project.demo.scenarios import booking, passwords, price_alerts

SCENARIOS: list[ModuleType] = [passwords, booking, price_alerts]
