"""Nothing is silently skipped (a failed close step is retried by the next close for its own
business date; an application stuck in ``received`` is swept) and terms are the loan's (each
plan keeps the penalty rate and grace it was booked under)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from accounts.business_day import business_date_get
from config.cob.models import CobFailure
from conftest import applicant_payload, make_id_number
from installments.models import Installment, InstallmentPlan, PaymentAttempt, Penalty
from installments.services import fees, repayments
from risk import tasks as risk_tasks
from risk.models import Application
from tests.credit_lines import activate_policy, assert_ledger_ok, buy, close_until, open_account

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def start(business_date):
    return business_date


def open_failures_on_dashboard(client: Client) -> int:
    html = client.get("/admin/").content.decode()
    return int(re.search(r'id="open-close-failures">(\d+)<', html).group(1))


def test_a_failed_step_is_retried_by_the_next_close_for_its_own_day(monkeypatch, django_user_model):
    boss = django_user_model.objects.create_superuser("boss", password="pw")
    client = Client()
    client.force_login(boss)
    bad = open_account("tok_ok", n=1)
    buy(bad, order="b")
    close_until(date(2026, 12, 20))
    real = fees.post_fees

    def failing(accounts, **due):
        if bad.pk in accounts:
            raise RuntimeError("disk on fire")
        return real(accounts, **due)

    monkeypatch.setattr(fees, "post_fees", failing)
    monkeypatch.setattr(repayments, "post_fees", failing)
    close_until(date(2026, 12, 21))
    failures = list(CobFailure.objects.order_by("id"))
    assert [(f.step_run.step, f.item_id, f.resolved_at) for f in failures] == [
        ("post_fees", bad.pk, None), ("auto_debit", bad.pk, None)]
    # the card was charged, but booking it failed: the attempt waits, never charged again
    assert PaymentAttempt.objects.get(account=bad).status == "submitted"
    assert open_failures_on_dashboard(client) == 2

    monkeypatch.undo()  # the disk is fixed
    close_until(date(2026, 12, 22))
    for failure in CobFailure.objects.all():
        assert failure.resolved_at is not None and failure.retries == 1
    attempt = PaymentAttempt.objects.get(account=bad)
    assert (attempt.business_date, attempt.status, attempt.amount) == (date(2026, 12, 20), "succeeded",
                                                                       Decimal("101.80"))
    first = Installment.objects.get(account=bad, seq=1)
    assert (first.state, first.fee_posted) == ("paid", True)
    assert not Penalty.objects.filter(account=bad).exists()  # collected before the first penalty day
    assert open_failures_on_dashboard(client) == 0
    assert business_date_get() == date(2026, 12, 22)
    assert_ledger_ok()


def test_a_failure_that_keeps_failing_stays_open_and_counts_its_retries(monkeypatch):
    bad = open_account("tok_ok", n=1)
    buy(bad, order="b")
    close_until(date(2026, 12, 20))
    monkeypatch.setattr(fees, "post_fees", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("still broken")))
    monkeypatch.setattr(repayments, "post_fees", fees.post_fees)
    close_until(date(2026, 12, 23))
    first = CobFailure.objects.filter(step_run__run__business_date=date(2026, 12, 20)).order_by("id").first()
    assert (first.resolved_at, first.retries) == (None, 2)
    assert "still broken" in first.error


class WorkerDied(BaseException):
    """The worker process went away between writing the application and checking it."""


def test_an_application_stuck_in_received_is_swept_to_pending_retry_and_decided(api, monkeypatch):
    def dies(*args, **kwargs):
        raise WorkerDied

    monkeypatch.setattr("risk.services.applications._application_check_identity_and_decide", dies)
    with pytest.raises(WorkerDied):
        api.post("/api/v1/applications", applicant_payload(), format="json")
    with pytest.raises(WorkerDied):
        api.post("/api/v1/applications", applicant_payload(external_id="u-2002", phone="13800000002",
                                                           id_number=make_id_number("11010519800101001")),
                 format="json")
    monkeypatch.undo()
    stuck, young = Application.objects.order_by("id")
    assert stuck.status == young.status == "received"
    Application.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    Application.objects.filter(pk=young.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert risk_tasks.sweep_stuck_applications() == 1
    stuck.refresh_from_db()
    assert (stuck.status, stuck.reasons[0]["code"]) == ("pending_retry", "UPSTREAM_UNAVAILABLE")
    assert Application.objects.get(pk=young.pk).status == "received"
    assert risk_tasks.retry_pending_applications() == 1
    stuck.refresh_from_db()
    assert stuck.status == "approved"


def test_an_identity_check_that_breaks_is_retried_not_stuck(api, monkeypatch):
    class Broken:
        def verify(self, *, name, id_number):
            raise KeyError("provider returned garbage")

    monkeypatch.setattr("risk.services.applications.get_identity_provider", Broken)
    body = api.post("/api/v1/applications", applicant_payload(), format="json").json()
    assert body["status"] == "pending_retry"


def test_each_plan_keeps_the_penalty_rate_and_grace_it_was_booked_under(manager, manager2):
    old = open_account("tok_insufficient_funds", n=1)
    buy(old, order="old")  # policy v1: grace 3 days, 0.05 % a day
    activate_policy(manager, manager2, grace_days=0, penalty_daily_rate="0.00100")
    new = open_account("tok_insufficient_funds", n=2)
    buy(new, order="new")
    assert list(InstallmentPlan.objects.order_by("id").values_list("grace_days", "penalty_daily_rate")) == [
        (3, Decimal("0.00050")), (0, Decimal("0.00100"))]
    close_until(date(2026, 12, 26))
    assert list(Penalty.objects.filter(account=old).values_list("business_date", "rate")) == [
        (date(2026, 12, 24), Decimal("0.00050")), (date(2026, 12, 25), Decimal("0.00050"))]
    assert list(Penalty.objects.filter(account=new).values_list("business_date", "rate"))[:2] == [
        (date(2026, 12, 21), Decimal("0.00100")), (date(2026, 12, 22), Decimal("0.00100"))]
    assert_ledger_ok()
