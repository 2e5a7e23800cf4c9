"""The staff inbox (decision 0032): who is notified, in their language, e-mail after commit
only, a failing mail server never breaking the caller; marking read only one's own; the
header's unread count and "My notifications" with a pinned query count; the deadline clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import StaffNotification, StaffProfile
from accounts.staff_inbox import staff_holding, staff_inbox_mark_read, staff_notify
from accounts.templatetags.deadline_clock import clock_state, deadline_clock

PERMISSION = "accounts.freeze_account"
INBOX = reverse("admin:accounts_staffnotification_changelist")


class FailingBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server down")


def perm(label: str) -> Permission:
    app_label, codename = label.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def user(name: str, *, email: str = "", active: bool = True, staff: bool = True, superuser: bool = False,
         via_group: bool = False, direct: bool = False, language: str | None = None) -> User:
    created = User.objects.create_user(username=name, password="pw", email=email, is_active=active,
                                       is_staff=staff, is_superuser=superuser)
    if via_group:
        group, _created = Group.objects.get_or_create(name="inbox holders")
        group.permissions.add(perm(PERMISSION))
        created.groups.add(group)
    if direct:
        created.user_permissions.add(perm(PERMISSION))
    if language:
        StaffProfile.objects.create(user=created, language=language)
    return created


@pytest.mark.django_db
def test_permission_holders_are_active_staff_with_the_grant_through_a_group_or_directly():
    by_group = user("by-group", via_group=True)
    direct = user("direct", direct=True)
    user("inactive", via_group=True, active=False)
    user("not-staff", direct=True, staff=False)
    user("root", superuser=True)  # holds everything, but is not granted it: not notified
    user("other")
    both = user("both", via_group=True, direct=True)
    assert list(staff_holding(PERMISSION)) == [by_group, direct, both]


@pytest.mark.django_db
def test_notify_writes_one_row_per_recipient_in_their_language_and_mails_after_commit(
        django_capture_on_commit_callbacks):
    english = user("english", email="en@example.com", via_group=True, language="en")
    chinese = user("chinese", email="zh@example.com", direct=True, language="zh-hans")
    silent = user("no-address", via_group=True)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        rows = staff_notify(permission=PERMISSION, kind="test.kind",
                            message=_("%(count)d notifications marked read."), params={"count": 3},
                            link="/admin/somewhere/")
        assert mail.outbox == []  # nothing leaves before the commit
    assert len(callbacks) == 1
    assert [(row.recipient_id, row.kind, row.link, row.read_at) for row in rows] == [
        (english.pk, "test.kind", "/admin/somewhere/", None), (chinese.pk, "test.kind", "/admin/somewhere/", None),
        (silent.pk, "test.kind", "/admin/somewhere/", None)]
    assert StaffNotification.objects.get(recipient=english).message == "3 notifications marked read."
    assert StaffNotification.objects.filter(recipient=chinese).count() == 1
    assert sorted(m.to[0] for m in mail.outbox) == ["en@example.com", "zh@example.com"]
    english_mail = next(m for m in mail.outbox if m.to == ["en@example.com"])
    assert english_mail.subject == "[Tally] 3 notifications marked read."
    assert english_mail.body == "3 notifications marked read.\n\n/admin/somewhere/"


@pytest.mark.django_db
def test_notify_to_named_recipients_skips_inactive_ones_and_a_rollback_sends_nothing(
        django_capture_on_commit_callbacks):
    named = user("named", email="n@example.com")
    gone = user("gone", email="g@example.com", active=False)
    with (django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError),
          transaction.atomic()):
        staff_notify(recipients=[named, gone], kind="k", message="hello")
        raise RuntimeError("the caller's work failed")
    assert callbacks == [] and mail.outbox == [] and StaffNotification.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        rows = staff_notify(recipients=[named, gone], kind="k", message="hello", email=False)
    assert [row.recipient_id for row in rows] == [named.pk] and mail.outbox == []


@pytest.mark.django_db
def test_notify_needs_one_way_of_naming_recipients():
    with transaction.atomic(), pytest.raises(ValueError):
        staff_notify(kind="k", message="m")
    with transaction.atomic(), pytest.raises(ValueError):
        staff_notify(recipients=[], permission=PERMISSION, kind="k", message="m")
    assert StaffNotification.objects.count() == 0


@pytest.mark.django_db
def test_a_failing_mail_server_never_breaks_the_caller(settings, caplog, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    holder = user("holder", email="h@example.com", direct=True)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        staff_notify(permission=PERMISSION, kind="k", message="m")
    assert StaffNotification.objects.filter(recipient=holder).count() == 1
    assert "e-mail of k to 1 recipient(s) failed" in caplog.text


@pytest.mark.django_db
def test_mark_read_touches_only_ones_own_notifications():
    mine, theirs = user("mine"), user("theirs")
    with transaction.atomic():
        first, second = staff_notify(recipients=[mine], kind="k", message="a") + \
            staff_notify(recipients=[mine], kind="k", message="b")
        other = staff_notify(recipients=[theirs], kind="k", message="c")[0]
    assert staff_inbox_mark_read(acting_user=mine, notification_ids=[first.pk, other.pk]) == 1
    assert StaffNotification.objects.get(pk=other.pk).read_at is None
    assert StaffNotification.objects.get(pk=second.pk).read_at is None
    assert staff_inbox_mark_read(acting_user=mine) == 1
    assert StaffNotification.objects.filter(recipient=mine, read_at__isnull=True).count() == 0
    assert StaffNotification.objects.get(pk=other.pk).read_at is None


def _notify(recipient: User, count: int) -> None:
    with transaction.atomic():
        for n in range(count):
            staff_notify(recipients=[recipient], kind="k", message=f"message {n}", link="/admin/", email=False)


captured_last: list[dict] = []


def _inbox_queries(client: Client, url: str = INBOX) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    captured_last[:] = captured.captured_queries
    return len(captured.captured_queries), response


# session, user, staff profile; the user's and their groups' permissions (the admin's
# navigation); the paginator's count, the page; the header's unread count
INBOX_QUERIES = 8


@pytest.mark.django_db
def test_my_notifications_lists_only_mine_newest_first_with_a_constant_query_count():
    me, other = user("me", language="en"), user("other")
    client = Client()
    client.force_login(me)
    _notify(other, 2)
    _notify(me, 3)
    client.get(INBOX)  # warm-up: content types, permissions caches
    few, response = _inbox_queries(client)
    assert [n.message for n in response.context["notifications"]] == ["message 2", "message 1", "message 0"]
    assert '<span id="staff-inbox-unread"' in response.content.decode()
    _notify(me, 30)
    many, response = _inbox_queries(client)
    assert len(response.context["notifications"]) == 25
    assert few == many == INBOX_QUERIES, "\n".join(q["sql"] for q in captured_last)
    assert _inbox_queries(client, INBOX + "?page=2")[1].context["page"].number == 2
    assert _inbox_queries(client, INBOX + "?page=abc")[1].context["page"].number == 1
    assert _inbox_queries(client, INBOX + "?page=999")[1].context["page"].number == 2


@pytest.mark.django_db
def test_marking_read_in_the_admin_one_and_all_and_never_anothers():
    me, other = user("me", language="en"), user("other")
    _notify(me, 2)
    _notify(other, 1)
    mine = list(StaffNotification.objects.filter(recipient=me).order_by("id"))
    theirs = StaffNotification.objects.get(recipient=other)
    client = Client()
    client.force_login(me)
    assert client.post(reverse("admin:accounts_staffnotification_read", args=[theirs.pk])).status_code == 302
    assert client.post(reverse("admin:accounts_staffnotification_read", args=["not-an-id"])).status_code == 302
    assert client.get(reverse("admin:accounts_staffnotification_read", args=[mine[0].pk])).status_code == 405
    assert StaffNotification.objects.filter(read_at__isnull=False).count() == 0
    client.post(reverse("admin:accounts_staffnotification_read", args=[mine[0].pk]))
    assert [n.read_at is not None for n in StaffNotification.objects.filter(recipient=me).order_by("id")] == [
        True, False]
    client.post(reverse("admin:accounts_staffnotification_read_all"))
    assert StaffNotification.objects.filter(recipient=me, read_at__isnull=True).count() == 0
    assert StaffNotification.objects.get(pk=theirs.pk).read_at is None
    assert 'id="staff-inbox-unread"' not in client.get(INBOX).content.decode()


@pytest.mark.django_db
def test_a_superuser_reads_only_their_own_inbox():
    root = user("root", superuser=True, language="en")
    other = user("other")
    _notify(other, 1)
    client = Client()
    client.force_login(root)
    assert client.get(INBOX).context["notifications"] == []


def test_deadline_clock_states():
    start = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.get_fixed_timezone(480))
    deadline = start + timedelta(hours=24)
    assert clock_state(deadline, start, start + timedelta(hours=1)) == ("deadline-normal", "23 h 0 min left")
    assert clock_state(deadline, start, deadline - timedelta(hours=2, minutes=14)) == (
        "deadline-amber", "2 h 14 min left")
    assert clock_state(deadline, start, deadline + timedelta(minutes=35, seconds=20)) == (
        "deadline-overdue", "overdue by 35 min")
    assert clock_state(deadline, None, deadline - timedelta(minutes=5)) == ("deadline-normal", "5 min left")
    assert clock_state(deadline + timedelta(days=2), start, start) == ("deadline-normal", "3 d 0 h left")


@pytest.mark.django_db
def test_deadline_clock_renders_its_words_for_the_script():
    html = str(deadline_clock(timezone.now() + timedelta(minutes=90), timezone.now() - timedelta(hours=1)))
    assert 'class="deadline-clock deadline-normal"' in html
    assert 'data-word-left="%(time)s left"' in html and 'data-word-hours="%(hours)s h %(minutes)s min"' in html
    assert html.endswith(">1 h 29 min left</span>") or html.endswith(">1 h 30 min left</span>")
    assert deadline_clock(None) == ""
