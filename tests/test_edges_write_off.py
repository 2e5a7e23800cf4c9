"""Write-off keeps the debt: recoveries through the API and auto-debit, the write-off of an
account closed for cause under its loan's own terms, and a defaulter who cannot start again."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from accounts.business_day import business_date_set
from accounts.models import CreditAccount, JournalLine, Notification
from complaints.services.closures import account_close_for_cause
from conftest import applicant_payload
from installments.models import Installment, PaymentAttempt, Penalty, Repayment
from installments.services.write_off import account_write_off
from risk.selectors import repayment_history_for
from tests.credit_lines import activate_policy, assert_ledger_ok, buy, close_until, open_account

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def start(business_date):
    return business_date


def written_off(account: CreditAccount, manager) -> CreditAccount:
    account_write_off(account_id=account.pk, reason_text="confirmed fraud", acting_user=manager)
    account.refresh_from_db()
    return account


def test_after_a_write_off_repayments_are_recoveries_never_above_what_is_recoverable(api, manager):
    account = open_account("tok_insufficient_funds")
    buy(account)
    account = written_off(account, manager)
    body = api.get(f"/api/v1/accounts/{account.pk}").json()
    assert body["status"] == "closed"
    assert body["written_off"] == {"on": "2026-11-20", "amount": "300.00", "recovered": "0.00",
                                   "recoverable": "300.00"}
    quote = api.get(f"/api/v1/accounts/{account.pk}/payoff-quote").json()
    assert (quote["total"], quote["recoverable"]) == ("300.00", "300.00")
    assert set(Installment.objects.filter(account=account).values_list("state", flat=True)) == {"written_off"}

    response = api.post(f"/api/v1/accounts/{account.pk}/repayments", {"reference": "r-1", "amount": "100.00"},
                        format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["recovered"], response.json()["allocations"]) == ("100.00", [])
    lines = sorted(JournalLine.objects.filter(entry__kind="repayment").values_list("book", "amount"))
    assert lines == [("repayments_clearing", Decimal("100.00")), ("write_off_recovery", Decimal("-100.00"))]

    before = (CreditAccount.objects.filter(pk=account.pk).values().get(), Repayment.objects.count(),
              JournalLine.objects.count())
    refused = api.post(f"/api/v1/accounts/{account.pk}/repayments", {"reference": "r-2", "amount": "250.00"},
                       format="json")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "overpayment"
    assert refused.json()["error"]["details"]["payoff_total"] == "200.00"
    assert (CreditAccount.objects.filter(pk=account.pk).values().get(), Repayment.objects.count(),
            JournalLine.objects.count()) == before

    assert api.post(f"/api/v1/accounts/{account.pk}/repayments", {"reference": "r-3", "amount": "200.00"},
                    format="json").status_code == 201
    body = api.get(f"/api/v1/accounts/{account.pk}").json()
    assert body["written_off"]["recovered"] == "300.00" and body["written_off"]["recoverable"] == "0.00"
    assert body["status"] == "closed"
    assert Notification.objects.filter(account=account, kind="recovery_received").count() == 2
    assert_ledger_ok()


def test_auto_debit_collects_a_recovery_the_day_after_the_write_off(manager):
    account = open_account("tok_ok")
    buy(account)
    written_off(account, manager)
    close_until(date(2026, 11, 22))
    attempt = PaymentAttempt.objects.get(account=account)
    assert (attempt.business_date, attempt.amount, attempt.status) == (date(2026, 11, 21), Decimal("300.00"),
                                                                        "succeeded")
    assert Repayment.objects.get(payment_attempt=attempt).recovered == Decimal("300.00")
    account.refresh_from_db()
    assert (account.recovered_amount, account.recoverable, account.status) == (Decimal("300.00"), 0, "closed")
    close_until(date(2026, 12, 22))  # nothing recoverable any more: never charged again
    assert PaymentAttempt.objects.filter(account=account).count() == 1
    assert_ledger_ok()


def test_an_account_closed_for_cause_is_written_off_at_its_loans_age(manager, manager2):
    activate_policy(manager, manager2, write_off_days=90)
    account = open_account("tok_insufficient_funds")
    buy(account)  # booked under a 90-day write-off age and the default penalty rate
    activate_policy(manager2, manager, write_off_days=360, penalty_daily_rate="0.00100")
    business_date_set(new_date=date(2026, 11, 21), acting_user=None, reason="test")
    account_close_for_cause(account_id=account.pk, reason_code="BREACH_OF_TERMS", note="breach",
                            acting_user=manager)
    close_until(date(2027, 3, 21))
    account.refresh_from_db()
    assert (account.written_off_on, account.days_past_due) == (None, 90)
    assert set(Penalty.objects.filter(account=account).values_list("rate", flat=True)) == {Decimal("0.00050")}
    close_until(date(2027, 3, 22))
    account.refresh_from_db()
    assert (account.status, account.closed_reason, account.written_off_on) == ("closed", "WRITE_OFF",
                                                                                date(2027, 3, 21))
    expense = JournalLine.objects.get(book="write_off_expense").amount
    assert account.written_off_amount == expense > Decimal("300.00")  # principal, fees and penalties
    assert account.outstanding_total == 0
    assert set(Installment.objects.filter(account=account).values_list("state", flat=True)) == {"written_off"}
    assert_ledger_ok()


def test_a_defaulter_cannot_start_again_under_any_store_id(api, manager):
    first = api.post("/api/v1/applications", applicant_payload(), format="json").json()
    assert first["status"] == "approved", first
    account = CreditAccount.objects.get(pk=first["account_id"])
    buy(account)
    written_off(account, manager)

    again = api.post("/api/v1/applications", applicant_payload(kind="reopen"), format="json")
    other = api.post("/api/v1/applications", applicant_payload(external_id="u-2002", phone="13800000002"),
                     format="json")
    for response in (again, other):
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["status"] == "rejected"
        assert [r["code"] for r in body["reasons"]] == ["PRIOR_WRITE_OFF"]
    assert CreditAccount.objects.count() == 1


def test_written_off_installments_are_missed_payments_for_every_store_id_of_the_person(manager):
    account = open_account("tok_insufficient_funds", external_id="person-a")
    buy(account)
    close_until(date(2026, 12, 25))
    written_off(account, manager)
    history = repayment_history_for(account.customer, until=date(2027, 3, 1), lookback_days=None)
    assert (history.installments_due, history.installments_on_time) == (3, 0)
    assert history.max_days_late == (date(2027, 3, 1) - date(2026, 12, 20)).days
    same_person = open_account("tok_ok", external_id="person-b")
    same_person.customer.id_number_hash = account.customer.id_number_hash
    same_person.customer.save(update_fields=["id_number_hash"])  # another store id, the same ID number
    assert repayment_history_for(same_person.customer, until=date(2027, 3, 1), lookback_days=None) == history
