"""Purchases, refunds, statements, bill installment and the ledger through the API (issue 3)."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from rest_framework.test import APIClient

from accounts import ledger_checks
from accounts.business_day import business_date_set
from accounts.ledger import Leg, lock_credit_account, post_entry
from accounts.lifecycle import credit_line
from accounts.models import AccountStatus, CreditAccount, JournalEntry, JournalLine
from config.api.clients import api_client_create_or_rotate
from conftest import upsert_customer
from installments.models import Installment, Purchase, Refund, Statement
from installments.services.fees import fees_post_due_accounts
from installments.services.purchases import purchase_create
from installments.services.statements import statement_issue
from risk.models import ScoringPolicy

pytestmark = pytest.mark.django_db


def open_account(limit: str = "1000.00", external_id: str = "p-1") -> CreditAccount:

    customer = upsert_customer(external_id=external_id, name="Zhang San", id_number="11010519491231002X",
                               phone="13800000001", store_status="normal", store_since=date(2020, 1, 1),
                               orders_12m=10, spend_12m=Decimal("9000.00"), return_rate=Decimal("0.01"))
    with transaction.atomic():
        return credit_line.open_account(customer=customer, credit_limit=Decimal(limit), card_token="tok_ok",
                                   policy_version_id=ScoringPolicy.objects.get(version=1).pk,
                                   reason_code="ACCOUNT_OPENED", acting_user=None)


def snapshot(account: CreditAccount):
    account.refresh_from_db()
    return (
        CreditAccount.objects.filter(pk=account.pk).values().get(),
        JournalLine.objects.count(), JournalEntry.objects.count(), Purchase.objects.count(),
        Installment.objects.count(), Refund.objects.count(),
        list(Installment.objects.values().order_by("id")),
    )


def assert_ledger_ok():
    violations, _ = ledger_checks.run_all()
    assert violations == []


def buy(api, account, amount="100.00", periods=3, order="o-1", **headers):
    return api.post(f"/api/v1/accounts/{account.pk}/purchases",
                    {"merchant_order_id": order, "amount": amount, "installments": periods}, format="json", **headers)


def test_100_in_3_schedule_and_ledger(api):
    account = open_account()
    response = buy(api, account)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["amount"] == "100.00"
    assert body["available_limit"] == "900.00"
    assert [(i["seq"], i["principal"], i["fee"]) for i in body["installments"]] == [
        (1, "33.33", "0.60"), (2, "33.33", "0.60"), (3, "33.34", "0.60")]
    assert [i["due_date"] for i in body["installments"]] == ["2026-12-20", "2027-01-20", "2027-02-20"]
    account.refresh_from_db()
    assert account.principal_outstanding == Decimal("100.00")
    lines = list(JournalLine.objects.values_list("book", "amount").order_by("id"))
    assert lines == [("principal_receivable", Decimal("100.00")), ("merchant_settlement", Decimal("-100.00"))]
    assert_ledger_ok()


def test_purchase_on_31_january_is_due_on_month_ends(api):
    business_date_set(new_date=date(2028, 1, 31), acting_user=None, reason="test")
    account = open_account()
    body = buy(api, account).json()
    assert [i["due_date"] for i in body["installments"]] == ["2028-02-29", "2028-03-31", "2028-04-30"]


def test_10000_in_12_fee_50_each(api):
    account = open_account("20000.00")
    body = buy(api, account, amount="10000.00", periods=12).json()
    assert {i["fee"] for i in body["installments"]} == {"50.00"}


def test_pay_later(api):
    account = open_account()
    body = buy(api, account, amount="59.90", periods=1).json()
    assert body["installments"] == [{"seq": 1, "due_date": "2026-12-20", "principal": "59.90", "fee": "0.00"}]


def test_merchant_order_replay_and_duplicate(api):
    account = open_account()
    first = buy(api, account)
    again = buy(api, account)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    before = snapshot(account)
    different = buy(api, account, amount="100.01")
    assert different.status_code == 409
    assert different.json()["error"]["code"] == "duplicate_order"
    assert snapshot(account) == before


def test_idempotency_key_books_once_and_409_on_different_amount(api):
    account = open_account()
    first = buy(api, account, order="o-k1", HTTP_IDEMPOTENCY_KEY="buy-1")
    second = buy(api, account, order="o-k1", HTTP_IDEMPOTENCY_KEY="buy-1")
    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert Purchase.objects.count() == 1
    before = snapshot(account)
    conflict = buy(api, account, amount="200.00", order="o-k1", HTTP_IDEMPOTENCY_KEY="buy-1")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_key_reused"
    assert snapshot(account) == before


@pytest.mark.parametrize(("payload", "status", "code"), [
    ({"amount": "-1.00"}, 400, "invalid_request"),
    ({"amount": "0.00"}, 400, "invalid_request"),
    ({"amount": "10.001"}, 400, "invalid_request"),
    ({"amount": 10.5}, 400, "invalid_request"),
    ({"amount": "abc"}, 400, "invalid_request"),
    ({"installments": "3"}, 400, "invalid_request"),
    ({"installments": 5}, 422, "invalid_term"),
    ({"installments": 24}, 422, "invalid_term"),
    ({"amount": "1000.01"}, 422, "insufficient_limit"),
    ({"merchant_order_id": ""}, 400, "invalid_request"),
])
def test_bad_purchases_change_nothing(api, payload, status, code):
    account = open_account()
    before = snapshot(account)
    body = {"merchant_order_id": "o-bad", "amount": "100.00", "installments": 3, **payload}
    response = api.post(f"/api/v1/accounts/{account.pk}/purchases", body, format="json")
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert snapshot(account) == before


@pytest.mark.parametrize("transition", ["suspend", "close"])
def test_purchase_on_suspended_or_closed_account_is_refused(api, transition):
    account = open_account()
    getattr(account, transition)()
    account.save()
    before = snapshot(account)
    response = buy(api, account)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "account_not_active"
    assert snapshot(account) == before


def test_unknown_account_is_404(api):
    assert buy(api, type("A", (), {"pk": 999999})()).status_code == 404


def test_database_refuses_an_unbalanced_entry_and_edits_of_lines(db):
    account = open_account()
    with pytest.raises(Exception, match="does not balance"), transaction.atomic():
        entry = JournalEntry.objects.create(idempotency_key="bad", kind="x", business_date=date(2026, 1, 1))
        JournalLine.objects.create(entry=entry, book="merchant_settlement", amount=Decimal("5.00"),
                                   business_date=date(2026, 1, 1))
        JournalLine.objects.create(entry=entry, book="fee_income", amount=Decimal("-4.00"),
                                   business_date=date(2026, 1, 1))
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert not JournalEntry.objects.filter(idempotency_key="bad").exists()
    purchase_create(account_id=account.pk, merchant_order_id="o", amount=Decimal("10.00"), periods=1)
    line = JournalLine.objects.first()
    with pytest.raises(Exception, match=r"journal_line_append_only|Cannot"), transaction.atomic():
        JournalLine.objects.filter(pk=line.pk).update(amount=Decimal("11.00"))
    with pytest.raises(Exception, match=r"journal_line_append_only|Cannot"), transaction.atomic():
        JournalLine.objects.filter(pk=line.pk).delete()
    assert JournalLine.objects.get(pk=line.pk).amount == line.amount


def test_audit_ledger_catches_corruption_behind_the_ledgers_back(db):
    account = open_account()
    purchase_create(account_id=account.pk, merchant_order_id="o", amount=Decimal("100.00"), periods=3)
    out = StringIO()
    call_command("audit_ledger", stdout=out)
    assert "OK" in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_creditaccount SET available_limit = available_limit + 50 WHERE id = %s",
                       [account.pk])
        cursor.execute("UPDATE installments_installment SET principal_paid = 10 WHERE account_id = %s AND seq = 1",
                       [account.pk])
    out = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit_ledger", stdout=out)
    assert exit_info.value.code == 1
    text = out.getvalue()
    assert "available limit 950.00, rule says 900.00" in text
    assert "outstanding principal 100.00 but installments owe 90.00" in text


def test_whole_refund_before_payment_leaves_nothing_owed(api):
    account = open_account()
    purchase = buy(api, account).json()
    response = api.post(f"/api/v1/purchases/{purchase['id']}/refunds",
                        {"merchant_refund_id": "r-1", "amount": "100.00"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["principal_reduced"], body["credit_balance_added"], body["available_limit"]) == \
        ("100.00", "0.00", "1000.00")
    account.refresh_from_db()
    assert account.principal_outstanding == 0 and account.fees_outstanding == 0
    assert set(Installment.objects.values_list("state", flat=True)) == {"cancelled"}
    assert api.get(f"/api/v1/accounts/{account.pk}/payoff-quote").json()["total"] == "0.00"
    assert_ledger_ok()


def test_partial_refund_reduces_the_last_installments_first(api):
    account = open_account()
    purchase = buy(api, account).json()
    body = api.post(f"/api/v1/purchases/{purchase['id']}/refunds",
                    {"merchant_refund_id": "r-1", "amount": "40.00"}, format="json").json()
    assert body["principal_reduced"] == "40.00" and body["available_limit"] == "940.00"
    rows = list(Installment.objects.order_by("seq").values_list("principal_cancelled", "state", "fee_waived"))
    assert rows == [(Decimal("0.00"), "open", Decimal("0.00")), (Decimal("6.66"), "open", Decimal("0.00")),
                    (Decimal("33.34"), "cancelled", Decimal("0.60"))]
    # a second refund continues; above what is left is refused and changes nothing
    api.post(f"/api/v1/purchases/{purchase['id']}/refunds", {"merchant_refund_id": "r-2", "amount": "50.00"},
             format="json")
    before = snapshot(account)
    too_much = api.post(f"/api/v1/purchases/{purchase['id']}/refunds",
                        {"merchant_refund_id": "r-3", "amount": "10.01"}, format="json")
    assert too_much.status_code == 422
    assert too_much.json()["error"]["code"] == "refund_exceeds_purchase"
    assert snapshot(account) == before
    assert_ledger_ok()


def test_refund_of_paid_part_becomes_credit_balance(api):
    account = open_account()
    purchase = buy(api, account).json()
    # pay installment 1 by hand through the ledger as a repayment would (issue 4 books repayments)

    with transaction.atomic():
        locked = lock_credit_account(account.pk)
        first = Installment.objects.select_for_update().get(purchase_id=purchase["id"], seq=1)
        first.principal_paid = first.principal
        first.state = "paid"
        first.save()
        post_entry(account=locked, key="manual-pay", kind="repayment", business_date=date(2026, 11, 20),
                   legs=[Leg("repayments_clearing", Decimal("33.33")),
                         Leg("principal_receivable", Decimal("-33.33"), first.pk)])
    body = api.post(f"/api/v1/purchases/{purchase['id']}/refunds",
                    {"merchant_refund_id": "r-all", "amount": "100.00"}, format="json").json()
    assert (body["principal_reduced"], body["credit_balance_added"]) == ("66.67", "33.33")
    account.refresh_from_db()
    assert account.credit_balance == Decimal("33.33")
    assert account.available_limit == Decimal("1000.00")
    assert_ledger_ok()


def test_refund_waives_posted_fees_of_cancelled_installments(api):
    account = open_account()
    purchase = buy(api, account).json()
    first_due = date(2026, 12, 20)
    assert fees_post_due_accounts(account_ids=[account.pk], business_date=first_due) == Decimal("0.60")
    assert fees_post_due_accounts(account_ids=[account.pk], business_date=first_due) == Decimal("0.00")
    account.refresh_from_db()
    assert account.fees_outstanding == Decimal("0.60")
    api.post(f"/api/v1/purchases/{purchase['id']}/refunds", {"merchant_refund_id": "r", "amount": "100.00"},
             format="json")
    account.refresh_from_db()
    assert account.fees_outstanding == 0 and account.principal_outstanding == 0
    assert JournalEntry.objects.filter(kind="fee_waiver").count() == 1
    assert_ledger_ok()


def test_statement_and_bill_installment(api):
    account = open_account("5000.00")
    buy(api, account, amount="300.00", periods=1, order="pl-1")
    buy(api, account, amount="200.00", periods=1, order="pl-2")
    buy(api, account, amount="600.00", periods=3, order="in-1")
    statement_day = date(2026, 12, 1)
    statement = statement_issue(account_id=account.pk, statement_date=statement_day)
    assert statement_issue(account_id=account.pk, statement_date=statement_day).pk == statement.pk
    # due by 2027-01-01: both pay-later items (2026-12-20) and installment 1 of the plan (2026-12-20)
    assert statement.principal_due == Decimal("700.00")
    assert statement.fees_due == Decimal("3.60")
    assert statement.total_due == Decimal("703.60")
    assert statement.earliest_due_date == date(2026, 12, 20)
    listed = api.get(f"/api/v1/accounts/{account.pk}/statements").json()
    assert listed["count"] == 1 and listed["results"][0]["total_due"] == "703.60"
    business_date_set(new_date=statement_day, acting_user=None, reason="test")
    response = api.post(f"/api/v1/statements/{statement.pk}/installment-plan", {"installments": 6}, format="json")
    assert response.status_code == 201, response.content
    plan = response.json()
    assert plan["principal"] == "500.00" and plan["periods"] == 6
    assert plan["installments"][0] == {"seq": 1, "due_date": "2027-01-01", "principal": "83.33", "fee": "2.75"}
    account.refresh_from_db()
    assert account.principal_outstanding == Decimal("1100.00")
    assert account.available_limit == Decimal("3900.00")
    again = api.post(f"/api/v1/statements/{statement.pk}/installment-plan", {"installments": 3}, format="json")
    assert again.status_code == 422 and again.json()["error"]["code"] == "conversion_closed"
    assert_ledger_ok()


def test_bill_installment_window_closes_after_earliest_due_date(api):
    account = open_account()
    buy(api, account, amount="300.00", periods=1)
    statement = statement_issue(account_id=account.pk, statement_date=date(2026, 12, 1))
    business_date_set(new_date=date(2026, 12, 21), acting_user=None, reason="test")
    before = snapshot(account)
    response = api.post(f"/api/v1/statements/{statement.pk}/installment-plan", {"installments": 3}, format="json")
    assert response.status_code == 422 and response.json()["error"]["code"] == "conversion_closed"
    assert snapshot(account) == before
    assert Statement.objects.get(pk=statement.pk).bill_plans.count() == 0


def test_installment_listing_and_filters(api):
    account = open_account()
    buy(api, account)
    listed = api.get(f"/api/v1/accounts/{account.pk}/installments").json()
    assert listed["count"] == 3
    assert {i["status"] for i in listed["results"]} == {"open"}
    business_date_set(new_date=date(2026, 12, 21), acting_user=None, reason="test")
    assert api.get(f"/api/v1/accounts/{account.pk}/installments?status=overdue").json()["count"] == 1
    assert api.get(f"/api/v1/accounts/{account.pk}/installments?status=open").json()["count"] == 2
    assert api.get(f"/api/v1/accounts/{account.pk}/installments?status=paid").json()["count"] == 0
    assert api.get(f"/api/v1/accounts/{account.pk}/installments?status=bogus").status_code == 400


def test_payoff_quote(api):
    account = open_account()
    buy(api, account)
    fees_post_due_accounts(account_ids=[account.pk], business_date=date(2026, 12, 20))
    quote = api.get(f"/api/v1/accounts/{account.pk}/payoff-quote").json()
    assert (quote["principal"], quote["fees"], quote["penalties"], quote["total"]) == \
        ("100.00", "0.60", "0.00", "100.60")
    assert quote["as_of"] == "2026-11-20"


@pytest.mark.django_db(transaction=True)
def test_50_concurrent_purchases_exactly_10_succeed(transactional_db, business_date):
    account = open_account()
    _client, token = api_client_create_or_rotate(name="storefront-race")
    barrier = threading.Barrier(50)
    statuses: list[tuple[int, str]] = []
    lock = threading.Lock()

    def purchase(n: int):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        try:
            barrier.wait()
            response = client.post(f"/api/v1/accounts/{account.pk}/purchases",
                                   {"merchant_order_id": f"race-{n}", "amount": "100.00", "installments": 3},
                                   format="json")
            with lock:
                statuses.append((response.status_code, response.json().get("error", {}).get("code", "")))
        finally:
            connection.close()

    threads = [threading.Thread(target=purchase, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses).count((201, "")) == 10
    assert statuses.count((422, "insufficient_limit")) == 40
    account.refresh_from_db()
    assert account.available_limit == Decimal("0.00")
    assert account.principal_outstanding == Decimal("1000.00")
    assert account.status == AccountStatus.ACTIVE
    assert_ledger_ok()


def test_limit_changes_are_listed(api):
    account = open_account()
    body = api.get(f"/api/v1/accounts/{account.pk}/limit-changes").json()
    assert body["count"] == 1
    assert body["results"][0]["new_limit"] == "1000.00" and body["results"][0]["reason_code"] == "ACCOUNT_OPENED"


def test_available_limit_is_never_negative_after_a_limit_cut(db):
    account = open_account()
    purchase_create(account_id=account.pk, merchant_order_id="o", amount=Decimal("800.00"), periods=3)
    CreditAccount.objects.filter(pk=account.pk).update(credit_limit=Decimal("500.00"), available_limit=0)
    account.refresh_from_db()
    assert account.available_limit == 0
    assert_ledger_ok()
