"""An operator action is one declaration: listing an :class:`Operation` in a message admin's ``operations``
gives the admin action, its label in the menu and the ``has_<name>_permission`` method Django asks."""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from outbox.admin.actions import Operation
from outbox.admin.base import ReadOnlyMessageAdmin
from outbox.models import OutboxMessage
from outbox.transitions import Changed

ARCHIVE = Operation("archive", "Archive", "archived", "Archived messages are kept out of the way.",
                    eligible=lambda rows: rows, run=lambda rows, reason, actor: Changed(0),
                    label="Archive (kept, out of the way)")


class ArchivingAdmin(ReadOnlyMessageAdmin):
    operations = (ARCHIVE,)


def test_operation__declared_once__action_label_permission_method_and_admin_checks_follow():
    model_admin = ArchivingAdmin(OutboxMessage, AdminSite(name="operations-test"))
    assert model_admin.actions == ("archive",)
    action = ArchivingAdmin.archive  # type: ignore[attr-defined]
    assert action.allowed_permissions == ["archive"] and action.short_description == "Archive (kept, out of the way)"
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    assert model_admin.has_archive_permission(request) is False  # type: ignore[attr-defined]
    assert model_admin.check() == []
