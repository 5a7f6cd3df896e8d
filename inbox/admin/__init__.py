"""The inbox in the Django admin (loaded by the admin's autodiscovery), built on ``outbox/admin/``.

- ``pages.py``: the registered page of inbox messages, its operator actions and the dead-groups pages;
- ``groups.py``: dead messages grouped by error; ``summary.py``: the summary above the list.
"""

from inbox.admin import pages  # noqa: F401 - registers the inbox's admin page
