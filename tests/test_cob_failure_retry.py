"""Operations retry a close's failed accounts by hand (decision 0034): the admin action on the
failures' list runs the step again for each selected open failure's own business date; one
that succeeds is resolved, one that fails again stays open with its new error; every retry is
audited; those without the permission are refused; the list's queries do not grow with it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEvent
from config.cob.models import CobFailure
from conftest import replace_step
from tests.credit_lines import close_until, open_account

pytestmark = pytest.mark.django_db

FAILURES = reverse("admin:cob_cobfailure_changelist")


def member(name: str, group: str) -> Client:
    user = User.objects.create_user(username=name, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def failing(monkeypatch, business_date):
    """The release_holds step over three accounts, failing for the first while ``on``."""
    accounts = [open_account("tok_ok", n=i) for i in range(3)]
    state = {"on": True, "calls": []}

    def run(ids: list[int], day: date) -> None:
        state["calls"].append((tuple(ids), day))
        if state["on"] and accounts[0].pk in ids:
            raise RuntimeError(f"hold service down for {accounts[0].pk}")

    replace_step(monkeypatch, "release_holds", select=lambda d: [a.pk for a in accounts], run=run)
    close_until(business_date + timedelta(days=1))
    state["accounts"] = accounts
    return state


def retry(client: Client, ids: list[int]):
    return client.post(FAILURES, {"action": "retry_failures", "_selected_action": [str(i) for i in ids]}, follow=True)


def test_a_retry_that_fails_again_stays_open_and_one_that_succeeds_is_resolved_for_its_own_day(failing, business_date):
    failure = CobFailure.objects.get()
    assert failure.account_id == failing["accounts"][0].pk and failure.resolved_at is None
    ops = member("ops", "Operations")
    listed = ops.get(FAILURES, {"state": "open"})
    assert listed.status_code == 200 and 'value="retry_failures"' in listed.content.decode()

    failing["calls"].clear()
    response = retry(ops, [failure.pk])
    assert "0 resolved, 1 failed again" in response.content.decode()
    failure.refresh_from_db()
    assert (failure.resolved_at, failure.retries) == (None, 1)
    assert failure.error.startswith("RuntimeError: hold service down")
    assert failing["calls"] == [((failure.account_id,), business_date)]  # its own business date

    failing["on"] = False
    response = retry(ops, [failure.pk])
    assert "1 resolved, 0 failed again" in response.content.decode()
    failure.refresh_from_db()
    assert failure.resolved_at is not None and failure.retries == 2
    assert list(AuditEvent.objects.filter(action="cob.failure_retried").order_by("id")
                .values_list("actor_label", "object_id", "after__resolved")) == [
        ("ops", str(failure.pk), False), ("ops", str(failure.pk), True)]
    retry(ops, [failure.pk])  # resolved already: skipped, nothing run
    assert failure.retries == CobFailure.objects.get().retries == 2


def test_staff_without_the_permission_cannot_retry(failing):
    failure = CobFailure.objects.get()
    agent = member("agent", "CS agent")
    assert agent.get(FAILURES).status_code == 403
    assert retry(agent, [failure.pk]).status_code == 403
    reviewer_with_view = User.objects.create_user(username="viewer", password="pw", is_staff=True)
    reviewer_with_view.user_permissions.add(*Group.objects.get(name="Operations").permissions.filter(
        codename="view_cobrun"))
    client = Client()
    client.force_login(reviewer_with_view)
    assert 'value="retry_failures"' not in client.get(FAILURES).content.decode()
    retry(client, [failure.pk])
    failure.refresh_from_db()
    assert (failure.resolved_at, failure.retries) == (None, 0)
    assert not AuditEvent.objects.filter(action="cob.failure_retried").exists()


def test_the_failures_list_and_its_export_cost_the_same_queries_for_1_and_10_failures(failing, business_date):
    ops = member("ops", "Operations")

    def queries() -> tuple[int, int, int]:
        ops.get(FAILURES)
        with CaptureQueriesContext(connection) as page:
            assert ops.get(FAILURES).status_code == 200
        with CaptureQueriesContext(connection) as export:
            body = b"".join(ops.get(reverse("admin:cob_cobfailure_export_csv")).streaming_content).decode()
        return len(page.captured_queries), len(export.captured_queries), body.count("\r\n") - 1

    few = queries()
    step_run = CobFailure.objects.get().step_run
    CobFailure.objects.bulk_create([CobFailure(step_run=step_run, account=failing["accounts"][1],
                                               item_id=failing["accounts"][1].pk, error="=cmd|' /C calc'!A0")
                                    for _ in range(9)])
    many = queries()
    assert (few[2], many[2]) == (1, 10)
    assert (many[0], many[1]) == (few[0], few[1])
    rows = b"".join(ops.get(reverse("admin:cob_cobfailure_export_csv"), {"state": "open"}).streaming_content).decode()
    assert "'=cmd|" in rows and "\r\n=cmd" not in rows  # formula neutralised
