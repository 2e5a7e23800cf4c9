"""Operable (docs/decisions/0025-operability.md): liveness and readiness, JSON logs with the
request id, task id and acting user, database and Celery time bounds, notifications retried
with back-off and recovered when stuck, re-send and resolve-alert actions (audited), the
dashboard's "close is behind", close_business_day refusing a day that has not ended, and
ids that are digits only outside ASCII answered without a 500 in the admin."""

from __future__ import annotations

import importlib
import json
import logging
from datetime import date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.db.models.query import QuerySet
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import logs, notifications, tasks
from accounts.business_day import business_date_get, business_date_set
from accounts.models import AuditEvent, CreditAccount, Notification
from config.api.models import IdempotencyRecord
from config.settings.base import database_config
from conftest import applicant_payload, upsert_customer
from installments.models import RestorationAlert
from risk.models import Application

pytestmark = pytest.mark.django_db


def staff_client(username: str, group: str | None = None, superuser: bool = False) -> tuple[User, Client]:
    if superuser:
        user = User.objects.create_superuser(username, password="pw")
    else:
        user = User.objects.create_user(username=username, password="pw", is_staff=True)
        if group:
            user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return user, client


# --- health ---------------------------------------------------------------------------------


def test_liveness_and_readiness():
    client = Client()
    live = client.get("/health/", HTTP_ACCEPT="application/json")
    assert live.status_code == 200
    ready = client.get("/ready/?format=json")
    assert ready.status_code == 200, ready.content
    body = ready.json()
    assert len(body) == 3 and set(body.values()) == {"OK"}
    assert any(name.startswith("MigrationsApplied") for name in body)


def test_readiness_fails_when_redis_is_away(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    ready = Client().get("/ready/?format=json")
    assert ready.status_code == 500
    assert any("Redis" in name and value != "OK" for name, value in ready.json().items())


# --- logs -----------------------------------------------------------------------------------


def test_json_logs_carry_the_request_id_and_the_acting_user():
    formatter, context = logs.JsonFormatter(), logs.ContextFilter()
    logs.clear()
    logs.bind(request_id="abc123def456", user="api:storefront")
    record = logging.makeLogRecord({"name": "tally.api", "levelname": "WARNING", "msg": "hello %s", "args": ("x",),
                                    "account_id": 7})
    context.filter(record)
    line = json.loads(formatter.format(record))
    assert line["message"] == "hello x" and line["level"] == "WARNING" and line["logger"] == "tally.api"
    assert line["request_id"] == "abc123def456" and line["user"] == "api:storefront" and line["account_id"] == 7
    assert "task_id" not in line
    logs.clear()


def test_every_response_has_a_request_id_and_a_safe_incoming_one_is_kept(api, caplog):
    response = api.get("/api/v1/accounts/999")
    assert len(response["X-Request-ID"]) == 32
    kept = api.get("/api/v1/accounts/999", HTTP_X_REQUEST_ID="proxy-req-00000001")
    assert kept["X-Request-ID"] == "proxy-req-00000001"
    injected = api.get("/api/v1/accounts/999", HTTP_X_REQUEST_ID="bad\nid injected into the log")
    assert injected["X-Request-ID"] != "bad\nid injected into the log"


def test_celery_tasks_log_their_id():
    celery_app = importlib.import_module("config.celery_app")  # (``config.celery_app`` is also the app)
    celery_app._task_log_context(sender=tasks.deliver_notification, task_id="task-1")
    assert logs.current("task_id") == "task-1" and logs.current("task") == "accounts.tasks.deliver_notification"
    celery_app._task_log_context_end()
    assert logs.current("task_id") == ""


# --- time bounds ------------------------------------------------------------------------------


def test_web_processes_bound_statements_and_lock_waits():
    url = "postgres://postgres@127.0.0.1:5432/x"
    assert "statement_timeout" not in database_config(url, web=False)["OPTIONS"]["options"]
    options = database_config(url, web=True)["OPTIONS"]["options"]
    assert "-c statement_timeout=30000" in options and "-c lock_timeout=10000" in options
    with connection.cursor() as cursor:  # the option string is one PostgreSQL accepts
        cursor.execute("SET LOCAL statement_timeout = 30000")


def test_celery_tasks_have_time_limits_below_the_visibility_timeout():
    assert django_settings.CELERY_TASK_SOFT_TIME_LIMIT < django_settings.CELERY_TASK_TIME_LIMIT
    for name, limits in django_settings.CELERY_TASK_ANNOTATIONS.items():
        assert limits["soft_time_limit"] < limits["time_limit"], name
        if name != "config.cob.tasks.close_business_days":  # the driver: redelivered, it meets the close's lock
            assert limits["time_limit"] < django_settings.CELERY_VISIBILITY_TIMEOUT, name
    assert django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] == django_settings.CELERY_VISIBILITY_TIMEOUT
    from config.celery_app import app  # noqa: PLC0415 - configured from the settings

    assert app.conf.task_time_limit == django_settings.CELERY_TASK_TIME_LIMIT


# --- notifications ------------------------------------------------------------------------------


class FlakyChannel:
    name = "flaky"
    failures = 0

    def send(self, notification, text: str) -> None:
        if FlakyChannel.failures:
            FlakyChannel.failures -= 1
            raise ConnectionError("provider down")


@pytest.fixture
def note(business_date):
    customer = upsert_customer(external_id="n-1", name="Wang Wu", id_number="11010519491231002X",
                               phone="13800000077", store_status="normal", store_since=date(2020, 1, 1),
                               orders_12m=1, spend_12m=Decimal("300.00"), return_rate=Decimal("0"))
    return Notification.objects.create(customer=customer, kind="application_result", event_key="n-1",
                                       params={"status": "rejected", "reasons": []})


def test_a_failed_send_is_retried_with_back_off_then_left_failed(note, settings):
    settings.TALLY_NOTIFICATION_CHANNEL = "tests.test_operability.FlakyChannel"
    settings.TALLY_NOTIFICATION_MAX_TRIES = 3
    FlakyChannel.failures = 5
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        assert notifications.deliver(note.pk) == "retry"
        note.refresh_from_db()
        assert (note.status, note.attempts) == ("pending", 1)
        assert note.next_attempt_at == start + timedelta(seconds=60)
        assert notifications.deliver(note.pk) == "skipped"  # not due yet
        assert tasks.deliver_pending_notifications() == 0
        clock.shift(timedelta(seconds=61))
        assert tasks.deliver_pending_notifications() == 1
        note.refresh_from_db()
        assert note.attempts == 2 and note.next_attempt_at == start + timedelta(seconds=61 + 120)
        clock.shift(timedelta(seconds=121))
        tasks.deliver_pending_notifications()
        note.refresh_from_db()
        assert (note.status, note.attempts, note.error) == ("failed", 3, "provider down")


def test_a_notification_stuck_in_sending_is_recovered(note, settings):
    Notification.objects.filter(pk=note.pk).update(status="sending", attempts=1,
                                                   claimed_at=timezone.now() - timedelta(hours=1))
    assert tasks.deliver_pending_notifications() == 1
    note.refresh_from_db()
    assert note.status == "sent" and note.attempts == 2


def test_failed_notifications_are_sent_again_from_the_admin_and_audited(note, settings,
                                                                       django_capture_on_commit_callbacks):
    Notification.objects.filter(pk=note.pk).update(status="failed", attempts=6, error="provider down")
    ops, client = staff_client("ops", "Operations")
    _agent, agent_client = staff_client("agent", "CS agent")
    changelist = reverse("admin:accounts_notification_changelist")
    agent_client.post(changelist, {"action": "send_again", "_selected_action": [note.pk]})
    note.refresh_from_db()
    assert note.status == "failed"  # the agent may not
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(changelist, {"action": "send_again", "_selected_action": [note.pk]})
    assert response.status_code == 302
    note.refresh_from_db()
    assert note.status == "sent" and note.attempts == 1  # eager delivery after commit
    event = AuditEvent.objects.get(action="notification.resent")
    assert event.actor == ops and event.before["status"] == "failed"


# --- restoration alerts -----------------------------------------------------------------------------


def test_a_restoration_alert_is_resolved_with_a_note_and_audit_ledger_passes_again(api):
    answer = api.post("/api/v1/applications", applicant_payload(), format="json").json()
    account = CreditAccount.objects.get(pk=answer["account_id"])
    alert = RestorationAlert.objects.create(account=account, detail="repayment neither restored nor held")
    with pytest.raises(SystemExit):
        call_command("audit_ledger", stdout=StringIO())
    root, client = staff_client("root", superuser=True)
    changelist = reverse("admin:installments_restorationalert_changelist")
    asked = client.post(changelist, {"action": "resolve", "_selected_action": [alert.pk]})
    assert asked.status_code == 200 and "resolve-alerts" in asked.content.decode()
    empty = client.post(changelist, {"action": "resolve", "_selected_action": [alert.pk], "apply": "1", "note": ""})
    assert empty.status_code == 200
    done = client.post(changelist, {"action": "resolve", "_selected_action": [alert.pk], "apply": "1",
                                    "note": "gateway double-posted; limit restored by hand in ticket 42"})
    assert done.status_code == 302
    alert.refresh_from_db()
    assert alert.resolved and alert.resolved_by == root and alert.resolved_at is not None
    assert AuditEvent.objects.get(action="restoration_alert.resolved").reason.startswith("gateway double-posted")
    call_command("audit_ledger", stdout=StringIO())  # exit 0 now


# --- the close --------------------------------------------------------------------------------------------


def test_close_business_day_refuses_a_day_that_has_not_ended_unless_forced(business_date, settings):
    settings.TALLY_CLOSE_REQUIRES_DAY_ENDED = True
    local = timezone.get_current_timezone()
    with time_machine.travel(datetime(2026, 11, 20, 23, 0, tzinfo=local), tick=False):
        with pytest.raises(CommandError, match="has not ended yet"):
            call_command("close_business_day", stdout=StringIO())
        assert business_date_get() == date(2026, 11, 20)
        with pytest.raises(CommandError, match="has not ended yet"):
            call_command("close_business_day", "--until", "2026-11-22", stdout=StringIO())
        call_command("close_business_day", "--force", stdout=StringIO())
        assert business_date_get() == date(2026, 11, 21)
    with time_machine.travel(datetime(2026, 11, 22, 0, 40, tzinfo=local), tick=False):
        call_command("close_business_day", stdout=StringIO())  # the 21st has ended
        assert business_date_get() == date(2026, 11, 22)


def test_the_dashboard_says_the_close_is_behind(business_date):
    root = User.objects.create_superuser("root", password="pw")
    local = timezone.get_current_timezone()

    def dashboard_at(moment: datetime) -> str:
        with time_machine.travel(moment, tick=False):
            client = Client()
            client.force_login(root)  # a fresh session at that moment
            response = client.get(reverse("admin:index"))
            assert response.status_code == 200
            return response.content.decode()

    assert 'id="close-behind"' not in dashboard_at(datetime(2026, 11, 21, 3, 0, tzinfo=local))  # the close has time
    late = dashboard_at(datetime(2026, 11, 21, 9, 0, tzinfo=local))
    assert 'id="close-behind"' in late and "1 day before the calendar date" in late
    assert "4 days before the calendar date" in dashboard_at(datetime(2026, 11, 24, 1, 0, tzinfo=local))
    business_date_set(new_date=date(2026, 11, 24), acting_user=None, reason="test")
    assert 'id="close-behind"' not in dashboard_at(datetime(2026, 11, 24, 9, 0, tzinfo=local))


# --- ids in the admin ------------------------------------------------------------------------------------


def test_admin_urls_with_ids_that_are_digits_only_outside_ascii_never_fail(business_date):
    _root, client = staff_client("root", superuser=True)
    urls = [
        "/admin/accounts/creditaccount/{id}/change/", "/admin/accounts/customer/{id}/change/",
        "/admin/accounts/customer/{id}/360/", "/admin/risk/reviewcase/{id}/change/",
        "/admin/risk/application/{id}/change/", "/admin/complaints/complaint/{id}/change/",
        "/admin/complaints/closurerequest/{id}/change/", "/admin/installments/purchase/{id}/change/",
        "/admin/accounts/notification/{id}/change/", "/admin/cob/cobrun/{id}/change/",
    ]
    for template in urls:
        for raw in ("²", "١٢", "０１"):
            response = client.get(template.format(id=raw))
            assert response.status_code in (302, 403, 404), (template, raw, response.status_code)
    for search in ("²", "١٢"):
        for changelist in ("admin:accounts_creditaccount_changelist", "admin:installments_purchase_changelist",
                           "admin:accounts_customer_changelist"):
            assert client.get(reverse(changelist), {"q": search}).status_code == 200


def test_a_database_lost_after_the_write_committed_still_answers_the_truth(api, monkeypatch):
    """PostgreSQL goes away between the view's commit and the storing of the replay: the
    client gets the committed 201, not a 500 (the key's lease stands until it ends)."""
    update = QuerySet.update

    def failing_update(self, **kwargs):
        if self.model is IdempotencyRecord and kwargs.get("completed"):
            raise OperationalError("server closed the connection unexpectedly")
        return update(self, **kwargs)

    monkeypatch.setattr(QuerySet, "update", failing_update)
    response = api.post("/api/v1/applications", applicant_payload(), format="json", HTTP_IDEMPOTENCY_KEY="k-pg")
    assert response.status_code == 201
    assert Application.objects.filter(pk=response.json()["id"]).exists()
    record = IdempotencyRecord.objects.get(key="k-pg")
    assert not record.completed  # claimed: a retry within the lease gets request_in_progress
