"""Credit balances that go somewhere: a refund of a converted purchase reduces the bill plan;
a balance pays dues before any card (with or without one) and is paid out on request, through
the gateway's payouts, reconciled when the answer is unknown — and never spent twice."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.business_day import business_date_set
from accounts.errors import BusinessRuleRefused
from accounts.models import CreditAccount, JournalLine, Notification
from installments.models import CreditBalancePayout, Installment, PaymentAttempt, Repayment
from installments.services.payouts import payout_request
from installments.services.repayment_cards import repayment_card_change
from installments.services.repayments import credit_balances_apply_accounts
from installments.services.statements import statement_issue
from tests.credit_lines import assert_ledger_ok, buy, close_until, credit_of, open_account

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def start(business_date):
    return business_date


def state(account: CreditAccount) -> tuple:
    return (CreditAccount.objects.filter(pk=account.pk).values().get(), JournalLine.objects.count(),
            CreditBalancePayout.objects.count(), Repayment.objects.count())


def test_a_refund_of_a_converted_purchase_reduces_the_bill_plan(api):
    account = open_account("tok_ok", limit="5000.00")
    shoes = buy(account, amount="300.00", periods=1, order="shoes")
    buy(account, amount="200.00", periods=1, order="coat")
    statement = statement_issue(account_id=account.pk, statement_date=date(2026, 12, 1))
    business_date_set(new_date=date(2026, 12, 1), acting_user=None, reason="test")
    plan = api.post(f"/api/v1/statements/{statement.pk}/installment-plan", {"installments": 3},
                    format="json").json()
    assert plan["principal"] == "500.00"

    body = api.post(f"/api/v1/purchases/{shoes.pk}/refunds", {"merchant_refund_id": "r-1", "amount": "250.00"},
                    format="json").json()
    assert (body["principal_reduced"], body["credit_balance_added"]) == ("250.00", "0.00")
    bill = list(Installment.objects.filter(plan_id=plan["id"]).order_by("seq")
                .values_list("state", "principal", "principal_cancelled", "fee_waived"))
    # last installment first: #3 (166.68) cancelled with its fee waived, #2 cut by the remaining 83.32
    assert [(s, c) for s, _p, c, _w in bill] == [("open", Decimal("0.00")), ("open", Decimal("83.32")),
                                                  ("cancelled", bill[2][1])]
    assert bill[2][3] > 0
    account.refresh_from_db()
    assert account.principal_outstanding == Decimal("250.00")
    assert account.available_limit == Decimal("4750.00")  # the limit is back by the principal reduced

    rest = api.post(f"/api/v1/purchases/{shoes.pk}/refunds", {"merchant_refund_id": "r-2", "amount": "50.00"},
                    format="json").json()
    assert (rest["principal_reduced"], rest["credit_balance_added"]) == ("50.00", "0.00")
    account.refresh_from_db()
    assert account.principal_outstanding == Decimal("200.00")  # only the coat is left in the plan
    assert_ledger_ok()


def test_what_was_already_paid_of_a_converted_purchase_becomes_credit(api):
    account = open_account("tok_ok", limit="5000.00")
    shoes = buy(account, amount="300.00", periods=1, order="shoes")
    statement = statement_issue(account_id=account.pk, statement_date=date(2026, 12, 1))
    business_date_set(new_date=date(2026, 12, 1), acting_user=None, reason="test")
    plan = api.post(f"/api/v1/statements/{statement.pk}/installment-plan", {"installments": 3},
                    format="json").json()
    assert api.post(f"/api/v1/accounts/{account.pk}/repayments", {"reference": "pay", "amount": "100.00"},
                    format="json").status_code == 201
    body = api.post(f"/api/v1/purchases/{shoes.pk}/refunds", {"merchant_refund_id": "r-1", "amount": "300.00"},
                    format="json").json()
    account.refresh_from_db()
    unpaid = sum(i.principal_unpaid for i in Installment.objects.filter(plan_id=plan["id"]))
    assert unpaid == 0 and account.principal_outstanding == 0
    assert Decimal(body["principal_reduced"]) + Decimal(body["credit_balance_added"]) == Decimal("300.00")
    assert account.credit_balance == Decimal(body["credit_balance_added"]) > 0
    assert_ledger_ok()


def test_a_credit_balance_pays_the_dues_before_any_card_even_without_one(db):
    account = credit_of(open_account(""), "100.00")
    buy(account, amount="150.00", periods=3, order="later")
    close_until(date(2026, 12, 21))
    first = Installment.objects.get(purchase__merchant_order_id="later", seq=1)
    assert (first.state, first.paid_on) == ("paid", date(2026, 12, 20))
    paid = Repayment.objects.get(account=account, source="credit_balance", business_date=date(2026, 12, 20))
    assert paid.amount == Decimal("50.90")
    account.refresh_from_db()
    assert (account.credit_balance, account.days_past_due) == (Decimal("49.10"), 0)
    assert not PaymentAttempt.objects.filter(account=account).exists()
    assert_ledger_ok()


def test_payouts_through_the_api(api):
    account = credit_of(open_account("tok_ok"), "100.00")
    url = f"/api/v1/accounts/{account.pk}/credit-balance-payouts"
    response = api.post(url, {"amount": "30.00"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["amount"], body["status"], body["business_date"]) == ("30.00", "succeeded", "2026-11-20")
    for bad, code in (({"amount": "70.01"}, "amount_exceeds_credit_balance"), ({"amount": "0.00"}, None),
                      ({"amount": 5}, None)):
        before = state(account)
        refused = api.post(url, bad, format="json")
        assert refused.status_code in (400, 422), refused.content
        if code:
            assert refused.json()["error"]["code"] == code
        assert state(account) == before
    assert api.post(url, {}, format="json").json()["amount"] == "70.00"  # omitted: the whole balance
    before = state(account)
    nothing = api.post(url, {}, format="json")
    assert (nothing.status_code, nothing.json()["error"]["code"]) == (422, "nothing_to_pay_out")
    assert state(account) == before
    listed = api.get(url).json()
    assert [(p["amount"], p["status"]) for p in listed["results"]] == [("70.00", "succeeded"), ("30.00", "succeeded")]
    assert Notification.objects.filter(account=account, kind="payout_sent").count() == 2
    account.refresh_from_db()
    assert account.credit_balance == 0
    assert_ledger_ok()


def test_a_payout_to_a_closed_card_fails_and_the_balance_stays(api):
    account = credit_of(open_account("tok_ok"), "40.00")
    repayment_card_change(account_id=account.pk, card_token="tok_card_closed")
    body = api.post(f"/api/v1/accounts/{account.pk}/credit-balance-payouts", {}, format="json").json()
    assert body["status"] == "failed"
    account.refresh_from_db()
    assert account.credit_balance == Decimal("40.00")
    assert Notification.objects.filter(account=account, kind="payout_failed").count() == 1
    assert_ledger_ok()


@pytest.mark.parametrize(("card", "settled", "balance"), [("tok_timeout_charged", "succeeded", "0.00"),
                                                           ("tok_timeout_not_charged", "not_paid", "40.00")])
def test_a_payout_without_an_answer_is_unknown_until_reconciled(api, card, settled, balance):
    account = credit_of(open_account("tok_ok"), "40.00")
    repayment_card_change(account_id=account.pk, card_token=card)
    body = api.post(f"/api/v1/accounts/{account.pk}/credit-balance-payouts", {}, format="json").json()
    assert body["status"] == "unknown"
    account.refresh_from_db()
    assert account.credit_balance == 0  # reserved while unknown: never paid out twice
    out = StringIO()
    call_command("reconcile_payments", stdout=out)
    assert f"payout {body['id']}" in out.getvalue() and f"unknown -> {settled}" in out.getvalue()
    account.refresh_from_db()
    assert account.credit_balance == Decimal(balance)
    assert CreditBalancePayout.objects.get(pk=body["id"]).status == settled
    assert_ledger_ok()


@pytest.mark.django_db(transaction=True)
def test_a_payout_and_the_close_never_both_spend_one_credit_balance(business_date):
    account = credit_of(open_account("tok_ok"), "100.00")
    buy(account, amount="150.00", periods=3, order="later")  # 50.00 and its 0.90 fee due on 2026-12-20
    business_date_set(new_date=date(2026, 12, 20), acting_user=None, reason="test")
    barrier = threading.Barrier(2)
    outcome: dict[str, object] = {}

    def run(name, call):
        try:
            barrier.wait()
            outcome[name] = call()
        except BusinessRuleRefused as exc:
            outcome[name] = exc.code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=("payout", lambda: payout_request(account_id=account.pk))),
               threading.Thread(target=run, args=("close", lambda: credit_balances_apply_accounts(
                   account_ids=[account.pk], business_date=date(2026, 12, 20))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    account.refresh_from_db()
    applied = sum(r.amount for r in Repayment.objects.filter(account=account, source="credit_balance",
                                                                business_date=date(2026, 12, 20)))
    paid_out = sum(p.amount for p in CreditBalancePayout.objects.filter(account=account))
    # in either order: the dues (the fee too, posted as the credit pays it) first, the rest paid out
    assert (applied, paid_out) == (Decimal("50.90"), Decimal("49.10")), outcome
    assert account.credit_balance == 0
    assert_ledger_ok()
