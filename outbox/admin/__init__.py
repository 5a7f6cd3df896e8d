"""The outbox in the Django admin (loaded by the admin's autodiscovery).

- ``pages.py``: the registered pages (outbox messages, circuit breakers) and their operator actions;
- ``actions.py``: an operator action declared once (:class:`~outbox.admin.actions.Operation`), its
  confirmation page, and how it runs and is logged;
- ``base.py``: the read-only message admin both apps build on; ``counts.py``, ``filters.py``,
  ``summary.py``, ``display.py``: cheap counts, bounded filters, the summary above a list, how fields show.
"""

from outbox.admin import pages  # noqa: F401 - registers the outbox's admin pages
