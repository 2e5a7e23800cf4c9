"""A keyed refund or repayment takes its Idempotency-Key, books and stores its answer in one
transaction (``accounts.request_keys.book_keyed``; docs/decisions/0039): one commit, replays of
the first answer, and a refusal found under the key's lock kept by that same transaction, so a
retry of the key never books what was first refused."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import outbox
from accounts.errors import BusinessRuleRefused
from config.api.clients import api_client_create_or_rotate
from config.api.errors import KeyAnswered
from config.api.idempotency import KeyInBooking
from config.api.models import IdempotencyRecord
from installments.models import Refund, Repayment
from installments.services.refunds import refund_create
from tests.test_purchases import assert_ledger_ok, buy, open_account, snapshot

pytestmark = pytest.mark.django_db(transaction=True)


def _client(name: str) -> tuple[object, APIClient]:
    client, token = api_client_create_or_rotate(name=name)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client, api


def _commits_of(monkeypatch, call):
    commits: list[int] = []
    commit = psycopg.Connection.commit

    def counted(self):
        if self.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            commits.append(1)
        return commit(self)

    def autocommitted(execute, sql, params, many, context):
        if not connection.in_atomic_block:
            commits.append(1)
        return execute(sql, params, many, context)

    monkeypatch.setattr(psycopg.Connection, "commit", counted)
    # the outbox's delivery runs on a worker, not in the request (eager here): not counted
    monkeypatch.setattr(outbox, "enqueue_quietly", lambda task, ids: None)
    with connection.execute_wrapper(autocommitted):
        response = call()
    monkeypatch.undo()
    return response, len(commits)


def test_a_keyed_repayment_and_refund_commit_once_and_replay(transactional_db, business_date, monkeypatch):
    _c, api = _client("storefront-keyed")
    account = open_account(limit="1000.00")
    purchase = buy(api, account, amount="300.00", periods=3, order="o-r", HTTP_IDEMPOTENCY_KEY="k-buy").json()
    api.post(f"/api/v1/accounts/{account.pk}/repayments", {"amount": "1.00", "reference": "warm"}, format="json",
             HTTP_IDEMPOTENCY_KEY="k-warm")

    def repay():
        return api.post(f"/api/v1/accounts/{account.pk}/repayments", {"amount": "50.00", "reference": "r-1"},
                        format="json", HTTP_IDEMPOTENCY_KEY="k-repay")

    def refund():
        return api.post(f"/api/v1/purchases/{purchase['id']}/refunds",
                        {"merchant_refund_id": "m-1", "amount": "30.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k-refund")

    for call, code in ((repay, "k-repay"), (refund, "k-refund")):
        first, commits = _commits_of(monkeypatch, call)
        assert first.status_code == 201, first.content
        assert commits == 1  # the key, the booking and the stored answer together
        record = IdempotencyRecord.objects.get(key=code)
        assert record.completed and record.response_status == 201 and record.response_body == first.json()
        before = snapshot(account)
        again = call()
        assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (201, first.json(), "true")
        assert snapshot(account) == before
    assert Repayment.objects.filter(reference="r-1").count() == 1
    assert Refund.objects.filter(merchant_refund_id="m-1").count() == 1
    assert_ledger_ok()


def test_a_keyed_refund_refused_under_its_key_is_kept_and_never_booked_later(transactional_db, business_date):
    client, api = _client("storefront-refused-refund")
    account = open_account(limit="1000.00")
    purchase = buy(api, account, amount="100.00", periods=1, order="o-small", HTTP_IDEMPOTENCY_KEY="k-b").json()
    before = snapshot(account)

    def keyed() -> KeyInBooking:
        return KeyInBooking(client=client, key="k-too-much", fingerprint="f", method="POST", path="/p",
                            now=timezone.now(), answer=lambda result: (201, {}))

    with pytest.raises(BusinessRuleRefused):
        refund_create(purchase_id=int(purchase["id"]), merchant_refund_id="m-big", amount=Decimal("150.00"),
                      request_key=keyed())
    record = IdempotencyRecord.objects.get(key="k-too-much")  # committed with the refusal's transaction
    assert record.completed and record.response_status == 422
    assert record.response_body["error"]["code"] == "refund_exceeds_purchase"
    assert snapshot(account) == before
    with pytest.raises(KeyAnswered) as replayed:  # the same key again: the refusal, nothing booked
        refund_create(purchase_id=int(purchase["id"]), merchant_refund_id="m-big", amount=Decimal("150.00"),
                      request_key=keyed())
    assert replayed.value.response.status_code == 422
    assert replayed.value.response["Idempotent-Replayed"] == "true"
    assert snapshot(account) == before and not Refund.objects.exists()
