"""The purchase booked in one statement, its Idempotency-Key in the same transaction
(docs/decisions/0039-purchase-in-one-round-trip.md): the statements a purchase sends, its one
commit, the answer built from the rows written, the business date and policy version checked in
the statement when another process moved them, and races on one key or one merchant order."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.business_day import business_date_get, business_date_set
from accounts.errors import BusinessRuleRefused
from accounts.models import CreditAccount, JournalEntry, JournalLine
from config.api.clients import api_client_create_or_rotate
from config.api.errors import KeyAnswered
from config.api.idempotency import KeyInBooking
from config.api.models import IdempotencyRecord
from installments.api.views import purchase_answer
from installments.models import Installment, InstallmentPlan, Purchase
from installments.services.purchases import purchase_book
from risk.models import PolicyStatus, ScoringPolicy
from tests.round_trips import counted_commits, counted_round_trips
from tests.test_purchases import assert_ledger_ok, buy, open_account, snapshot

pytestmark = pytest.mark.django_db


def _rows(purchase_id: int) -> dict:
    return {"installments": [(i.seq, i.due_date.isoformat(), f"{i.principal:.2f}", f"{i.fee:.2f}")
                             for i in Installment.objects.filter(purchase_id=purchase_id).order_by("seq")],
            "plan": InstallmentPlan.objects.get(purchase_id=purchase_id),
            "entry": JournalEntry.objects.get(idempotency_key=f"purchase:{purchase_id}")}


def test_a_keyed_purchase_sends_four_statements_and_answers_from_the_rows_written(api):
    account = open_account(limit="1000.00")
    buy(api, account, order="warm-up", amount="10.00", HTTP_IDEMPOTENCY_KEY="k-0")  # the client is looked up once
    with CaptureQueriesContext(connection) as queries:
        response = buy(api, account, order="o-2", amount="250.00", periods=6, HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 201, response.content
    # the test's own transaction turns the booking's into a savepoint; BEGIN and COMMIT are not captured
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    # the key's lock, the key's record, the booking, the answer
    assert len(statements) == 4, statements
    assert "pg_try_advisory_xact_lock" in statements[0]
    assert "accounts_idempotencyrecord" in statements[1]
    assert statements[2].lstrip().startswith("WITH acct AS")
    assert statements[3].startswith("INSERT INTO accounts_idempotencyrecord")
    body = response.json()
    rows = _rows(int(body["id"]))
    assert [(i["seq"], i["due_date"], i["principal"], i["fee"]) for i in body["installments"]] == rows["installments"]
    account.refresh_from_db()
    assert body["available_limit"] == f"{account.available_limit:.2f}" == "740.00"
    assert account.principal_outstanding == Decimal("260.00")
    assert rows["plan"].policy_version.status == PolicyStatus.ACTIVE and rows["plan"].periods == 6
    lines = JournalLine.objects.filter(entry=rows["entry"]).order_by("id")
    assert [(line.book, line.amount, line.credit_account_id) for line in lines] == [
        ("principal_receivable", Decimal("250.00"), account.pk), ("merchant_settlement", Decimal("-250.00"), None)]
    record = IdempotencyRecord.objects.get(key="k-1")
    assert record.completed and record.response_status == 201 and record.response_body == body
    assert_ledger_ok()


def test_same_key_replays_and_another_body_is_409_changing_nothing(api):
    account = open_account()
    first = buy(api, account, HTTP_IDEMPOTENCY_KEY="k-2")
    before = snapshot(account)
    again = buy(api, account, HTTP_IDEMPOTENCY_KEY="k-2")
    assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (201, first.json(), "true")
    other = buy(api, account, amount="200.00", order="o-9", HTTP_IDEMPOTENCY_KEY="k-2")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert snapshot(account) == before


def test_a_keyed_refusal_is_kept_and_replayed_without_booking(api):
    account = open_account(limit="100.00")
    before = snapshot(account)
    refused = buy(api, account, amount="500.00", HTTP_IDEMPOTENCY_KEY="k-3")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "insufficient_limit"
    again = buy(api, account, amount="500.00", HTTP_IDEMPOTENCY_KEY="k-3")
    assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (422, refused.json(), "true")
    assert snapshot(account) == before


def test_a_business_date_moved_by_another_process_is_found_by_the_statement(api, business_date):
    account = open_account()
    assert buy(api, account, order="o-a").json()["business_date"] == business_date.isoformat()
    moved = date(2026, 12, 31)
    # another process moves the date: this process's memo still holds the old one
    with connection.cursor() as cursor:
        cursor.execute('UPDATE accounts_businesscalendar SET "current_date" = %s WHERE id = 1', [moved])
    body = buy(api, account, order="o-b").json()
    assert body["business_date"] == moved.isoformat() == business_date_get().isoformat()
    assert [i["due_date"] for i in body["installments"]] == ["2027-01-31", "2027-02-28", "2027-03-31"]
    assert Purchase.objects.get(pk=body["id"]).business_date == moved
    assert_ledger_ok()


def test_a_policy_activated_by_another_process_prices_the_next_purchase(api):
    account = open_account()
    assert buy(api, account, order="o-a").json()["installments"][0]["fee"] == "0.60"
    old = ScoringPolicy.objects.get(status=PolicyStatus.ACTIVE)
    params = {**old.params, "term_fee_rates": {**old.params.get("term_fee_rates", {}), "3": "0.0100"}}
    # as another process's activation leaves it: the memo of this one still holds the old version
    ScoringPolicy.objects.filter(pk=old.pk).update(status=PolicyStatus.RETIRED)
    new = ScoringPolicy.objects.create(version=old.version + 1, params=params, notes="v-next")
    ScoringPolicy.objects.filter(pk=new.pk).update(status=PolicyStatus.ACTIVE)
    body = buy(api, account, order="o-b").json()
    assert body["installments"][0]["fee"] == "1.00"
    assert InstallmentPlan.objects.get(purchase_id=body["id"]).policy_version_id == new.pk


def test_refusals_change_nothing(api):
    account = open_account(limit="1000.00")
    before = snapshot(account)
    cases = [({"amount": "2000.00"}, 422, "insufficient_limit"), ({"periods": 5}, 422, "invalid_term"),
             ({"amount": "0.00"}, 400, "invalid_request")]
    for change, status, code in cases:
        response = buy(api, account, **{"order": "o-x", **change})
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.content
    missing = api.post("/api/v1/accounts/999999/purchases", {"merchant_order_id": "o", "amount": "1.00",
                                                              "installments": 3}, format="json")
    assert missing.status_code == 404
    CreditAccount.objects.filter(pk=account.pk).update(status="suspended")
    suspended = buy(api, account, order="o-y")
    assert suspended.status_code == 422 and suspended.json()["error"]["code"] == "account_not_active"
    CreditAccount.objects.filter(pk=account.pk).update(status="active")
    assert snapshot(account) == before


def _concurrently(token: str, account_id: int, n: int, key: str | None, order) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(n)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def send(k: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        barrier.wait()
        try:
            response = client.post(f"/api/v1/accounts/{account_id}/purchases",
                                   {"merchant_order_id": order(k), "amount": "100.00", "installments": 3},
                                   format="json", **headers)
            with lock:
                results.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(k,)) for k in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_one_key_sent_six_times_at_once_books_once(transactional_db, business_date):
    _client, token = api_client_create_or_rotate(name="storefront-race")
    account = open_account()
    results = _concurrently(token, account.pk, 6, "race-key", lambda k: "o-race")
    assert Purchase.objects.count() == 1
    booked = [body for status, body in results if status == 201]
    assert booked and all(body == booked[0] for body in booked)  # the booking and its replays
    others = [body["error"]["code"] for status, body in results if status != 201]
    assert set(others) <= {"request_in_progress"}
    account.refresh_from_db()
    assert account.available_limit == Decimal("900.00")
    assert_ledger_ok()


@pytest.mark.django_db(transaction=True)
def test_one_merchant_order_sent_six_times_at_once_without_a_key_books_once(transactional_db, business_date):
    _client, token = api_client_create_or_rotate(name="storefront-race")
    account = open_account()
    results = _concurrently(token, account.pk, 6, None, lambda k: "o-same")
    assert sorted(status for status, _body in results) == [200] * 5 + [201]
    assert len({body["id"] for _status, body in results}) == 1
    assert Purchase.objects.count() == 1 and JournalEntry.objects.filter(kind="purchase").count() == 1
    account.refresh_from_db()
    assert account.available_limit == Decimal("900.00")
    assert_ledger_ok()


@pytest.mark.django_db(transaction=True)
def test_a_purchase_commits_once(transactional_db, business_date):
    _client, token = api_client_create_or_rotate(name="storefront-commits")
    account = open_account()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    buy(client, account, order="warm-up", amount="1.00", HTTP_IDEMPOTENCY_KEY="w")
    with counted_commits() as commits:
        response = buy(client, account, order="o-1", HTTP_IDEMPOTENCY_KEY="k-commit")
    assert response.status_code == 201
    assert commits == ["COMMIT"]  # sent with the answer
    assert Purchase.objects.filter(merchant_order_id="o-1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_keyed_refusal_is_kept_by_its_booking_so_a_retry_never_books_it_later(transactional_db, business_date):
    """The refusal's answer commits with the booking's transaction, under the key's lock: a
    duplicate sent right after it (before any other code runs) finds the answer, and a retry
    after the limit came back replays the refusal instead of booking the purchase."""

    client, _token = api_client_create_or_rotate(name="storefront-refusal")
    account = open_account(limit="100.00")
    before = snapshot(account)
    keyed = KeyInBooking(client=client, key="k-refused", fingerprint="f", method="POST", path="/p",
                         now=timezone.now(), answer=lambda booked: (201, {}))
    with pytest.raises(BusinessRuleRefused):
        purchase_book(account_id=account.pk, merchant_order_id="o-big", amount=Decimal("500.00"), periods=1,
                      request_key=keyed)
    record = IdempotencyRecord.objects.get(key="k-refused")  # committed by the booking itself
    assert record.completed and record.response_status == 422
    assert record.response_body["error"]["code"] == "insufficient_limit"
    assert snapshot(account) == before and not Purchase.objects.exists()

    CreditAccount.objects.filter(pk=account.pk).update(credit_limit=Decimal("1000.00"),
                                                       available_limit=Decimal("1000.00"))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {_token}")
    retry = buy(api, account, order="o-big", amount="500.00", periods=1, HTTP_IDEMPOTENCY_KEY="k-refused")
    assert retry.status_code == 409  # the same key with another request body (fingerprint "f" above)
    again = KeyInBooking(client=client, key="k-refused", fingerprint="f", method="POST", path="/p",
                         now=timezone.now(), answer=lambda booked: (201, {}))
    with pytest.raises(KeyAnswered) as replayed:
        purchase_book(account_id=account.pk, merchant_order_id="o-big", amount=Decimal("500.00"), periods=1,
                      request_key=again)
    assert replayed.value.response.status_code == 422
    assert replayed.value.response["Idempotent-Replayed"] == "true"
    assert not Purchase.objects.exists()


def test_business_date_set_in_this_process_is_seen_at_once(api):
    account = open_account()
    business_date_set(new_date=date(2027, 3, 1), acting_user=None, reason="test")
    assert buy(api, account).json()["business_date"] == "2027-03-01"


def test_the_booking_statement_is_prepared_on_its_connection(api):
    account = open_account(limit="10000.00")
    for n in range(7):
        assert buy(api, account, order=f"o-{n}", amount="10.00").status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%WITH acct AS%"])
        assert cursor.fetchone()[0] == 1
    assert Purchase.objects.filter(account=account).count() == 7


@pytest.mark.django_db(transaction=True)
def test_a_keyed_purchase_takes_three_round_trips(transactional_db, business_date):
    """BEGIN (psycopg waits for it), the key's claim with the booking statement, and the answer
    with COMMIT; without a key, the same three (COMMIT follows the booking's answer)."""
    client, _token = api_client_create_or_rotate(name="storefront-trips")
    account = open_account()
    purchase_book(account_id=account.pk, merchant_order_id="warm", amount=Decimal("1.00"), periods=3)

    def keyed(key: str) -> KeyInBooking:
        return KeyInBooking(client=client, key=key, fingerprint="f", method="POST", path="/p", now=timezone.now(),
                            answer=purchase_answer)

    with counted_round_trips() as keyed_trips:
        booked = purchase_book(account_id=account.pk, merchant_order_id="o-rt", amount=Decimal("120.00"), periods=6,
                               request_key=keyed("k-rt"))
    with counted_round_trips() as plain_trips:
        purchase_book(account_id=account.pk, merchant_order_id="o-rt-2", amount=Decimal("10.00"), periods=3)
    assert (keyed_trips.round_trips, plain_trips.round_trips) == (3, 3), (keyed_trips.statements,
                                                                         plain_trips.statements)
    assert keyed_trips.statements[-1] == plain_trips.statements[-1] == "COMMIT"
    record = IdempotencyRecord.objects.get(key="k-rt")
    assert record.completed and record.response_body == purchase_answer(booked)[1]
    assert Purchase.objects.filter(merchant_order_id__in=["o-rt", "o-rt-2"]).count() == 2
    assert_ledger_ok()
