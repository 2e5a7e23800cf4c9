"""Collection keeps going at the edges of a credit line's life: references that look like the
system's keys, unclear gateway answers and their reconciliation during the day, retries after
the ladder, a new repayment card (API and admin) after a hard decline, and an account closed
for cause that is still collected."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.business_day import business_date_set
from accounts.models import AuditEvent, CreditAccount, Notification
from complaints.services.closures import account_close_for_cause
from config.schedules import SCHEDULES
from installments import tasks
from installments.models import PaymentAttempt, Repayment, Statement
from installments.services.repayment_cards import repayment_card_change
from tests.credit_lines import assert_ledger_ok, buy, close_until, open_account

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def start(business_date):
    return business_date


def attempts(account: CreditAccount) -> list[tuple]:
    return list(PaymentAttempt.objects.filter(account=account).order_by("business_date", "id")
                .values_list("business_date", "status", "card_token"))


def test_storefront_references_like_system_keys_never_block_a_booking(api):
    account = open_account("tok_ok")
    buy(account)
    for reference in (f"debit:{account.pk}:2026-12-20", "credit:2026-12-20"):
        response = api.post(f"/api/v1/accounts/{account.pk}/repayments", {"reference": reference, "amount": "10.00"},
                            format="json")
        assert response.status_code == 201, response.content
    close_until(date(2026, 12, 21))
    assert attempts(account) == [(date(2026, 12, 20), "succeeded", "tok_ok")]
    debit = Repayment.objects.get(account=account, source="auto_debit")
    assert debit.reference == f"debit:{account.pk}:2026-12-20"
    assert Repayment.objects.filter(account=account, reference=debit.reference).count() == 2  # two namespaces
    account.refresh_from_db()
    assert account.days_past_due == 0 and account.status == "active"
    assert_ledger_ok()


def test_an_unclear_answer_is_unknown_and_reconciled_within_minutes(api):
    account = open_account("tok_pending_charged")
    buy(account)
    close_until(date(2026, 12, 21))
    attempt = PaymentAttempt.objects.get(account=account)
    assert (attempt.status, attempt.decline_code) == ("unknown", "")
    assert not Notification.objects.filter(account=account, kind="debit_failed").exists()  # no "card closed"
    account.refresh_from_db()
    limit_before = account.available_limit
    out = StringIO()
    call_command("reconcile_payments", stdout=out)
    assert f"attempt {attempt.pk} debit:{account.pk}:2026-12-20: unknown -> succeeded" in out.getvalue()
    attempt.refresh_from_db()
    account.refresh_from_db()
    assert attempt.status == "succeeded"
    assert Repayment.objects.get(payment_attempt=attempt).principal_paid == Decimal("100.00")
    assert account.available_limit == limit_before + Decimal("100.00")  # the limit is back at once
    assert AuditEvent.objects.filter(action="payment_attempt.reconciled", object_id=str(attempt.pk)).count() == 1
    call_command("reconcile_payments", stdout=StringIO())  # nothing left: nothing changes
    assert Repayment.objects.filter(payment_attempt=attempt).count() == 1
    assert_ledger_ok()


def test_the_beat_job_reconciles_every_15_minutes(db):
    job = next(s for s in SCHEDULES if s.task == "installments.tasks.reconcile_payments")
    assert job.every_seconds == 900
    account = open_account("tok_timeout_charged")
    buy(account)
    close_until(date(2026, 12, 21))
    assert PaymentAttempt.objects.get(account=account).status == "unknown"
    assert tasks.reconcile_payments() == 1
    assert PaymentAttempt.objects.get(account=account).status == "succeeded"
    assert_ledger_ok()


def test_after_the_ladder_auto_debit_tries_every_7_days(db):
    account = open_account("tok_insufficient_funds")
    buy(account)
    close_until(date(2027, 1, 11))
    tried = [day for day, _status, _card in attempts(account)]
    assert tried == [date(2026, 12, 20), date(2026, 12, 21), date(2026, 12, 23), date(2026, 12, 27),
                     date(2027, 1, 3), date(2027, 1, 10)]
    assert_ledger_ok()


def test_a_new_card_through_the_api_is_tried_at_the_next_close_after_a_hard_decline(api):
    account = open_account("tok_card_closed")
    buy(account)
    close_until(date(2026, 12, 22))
    assert attempts(account) == [(date(2026, 12, 20), "hard_declined", "tok_card_closed")]  # waits for a new card
    for bad in ({"repayment_card_token": ""}, {"repayment_card_token": "tok ok!"}, {"repayment_card_token": 5}, {}):
        response = api.put(f"/api/v1/accounts/{account.pk}/repayment-card", bad, format="json")
        assert response.status_code == 400, (bad, response.content)
    account.refresh_from_db()
    assert account.repayment_card_token == "tok_card_closed"
    assert not AuditEvent.objects.filter(action="account.repayment_card_changed").exists()

    response = api.put(f"/api/v1/accounts/{account.pk}/repayment-card", {"repayment_card_token": "tok_ok"},
                       format="json")
    assert response.status_code == 200, response.content
    assert response.json()["id"] == str(account.pk)
    event = AuditEvent.objects.get(action="account.repayment_card_changed")
    assert (event.before, event.after, event.actor_label) == (
        {"repayment_card_token": "***********osed"}, {"repayment_card_token": "**k_ok"}, "api:storefront")
    close_until(date(2026, 12, 23))
    assert attempts(account)[-1] == (date(2026, 12, 22), "succeeded", "tok_ok")
    account.refresh_from_db()
    assert account.days_past_due == 0
    assert_ledger_ok()


def test_an_agent_changes_the_card_in_the_admin_and_others_may_not(agent, reviewer):
    account = open_account("tok_card_closed")
    url = reverse("admin:accounts_creditaccount_repayment_card", args=[account.pk])
    page = reverse("admin:accounts_creditaccount_change", args=[account.pk])
    outsider = Client()
    outsider.force_login(reviewer)
    assert 'id="repayment-card-form"' not in outsider.get(page).content.decode()
    outsider.post(url, {"card_token": "tok_ok", "reason": "customer called"})
    account.refresh_from_db()
    assert account.repayment_card_token == "tok_card_closed"

    client = Client()
    client.force_login(agent)
    assert 'id="repayment-card-form"' in client.get(page).content.decode()
    client.post(url, {"card_token": "tok_ok", "reason": ""})  # a reason is required
    account.refresh_from_db()
    assert account.repayment_card_token == "tok_card_closed"
    response = client.post(url, {"card_token": "tok_ok", "reason": "customer called with a new card"}, follow=True)
    assert "the next close of business charges it" in response.content.decode()
    account.refresh_from_db()
    assert account.repayment_card_token == "tok_ok"
    event = AuditEvent.objects.get(action="account.repayment_card_changed")
    assert (event.actor_id, event.reason) == (agent.pk, "customer called with a new card")


def test_an_account_closed_for_cause_is_billed_debited_and_penalised(manager):
    account = open_account("tok_insufficient_funds")
    buy(account)
    business_date_set(new_date=date(2026, 11, 25), acting_user=None, reason="test")
    account_close_for_cause(account_id=account.pk, reason_code="FRAUD_CONFIRMED", note="confirmed",
                            acting_user=manager)
    close_until(date(2026, 12, 28))
    account.refresh_from_db()
    assert (account.status, account.credit_limit, account.available_limit) == ("closed", 0, 0)
    assert Statement.objects.filter(account=account, statement_date=date(2026, 12, 20)).exists()
    assert [day for day, _s, _c in attempts(account)] == [date(2026, 12, 20), date(2026, 12, 21),
                                                           date(2026, 12, 23), date(2026, 12, 27)]
    assert account.penalties_outstanding > 0 and account.days_past_due == 7
    repayment_card_change(account_id=account.pk, card_token="tok_ok")  # the customer finds the money
    close_until(date(2027, 1, 4))
    assert attempts(account)[-1][:2] == (date(2027, 1, 3), "succeeded")
    account.refresh_from_db()
    assert account.status == "closed" and account.days_past_due == 0
    assert_ledger_ok()
