"""A keyed refund or repayment takes its Idempotency-Key, books and stores its answer in one
transaction (``accounts.request_keys.book_keyed``; docs/decisions/0039): one commit, replays of
the first answer, and a refusal found under the key's lock kept by that same transaction, so a
retry of the key never books what was first refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import outbox
from accounts.errors import BusinessRuleRefused
from accounts.models import JournalEntry, JournalLine
from config.api.clients import api_client_create_or_rotate
from config.api.errors import KeyAnswered
from config.api.idempotency import KeyInBooking
from config.api.models import IdempotencyRecord
from installments.api.repayments import RepaymentOutSerializer, repayment_answer
from installments.api.views import refund_answer
from installments.models import Refund, Repayment
from installments.services.refunds import refund_create
from installments.services.repayments import repayment_create
from tests.round_trips import counted_commits, counted_round_trips
from tests.test_purchases import assert_ledger_ok, buy, open_account, snapshot

pytestmark = pytest.mark.django_db(transaction=True)


def _client(name: str) -> tuple[object, APIClient]:
    client, token = api_client_create_or_rotate(name=name)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client, api


def _commits_of(call):
    with counted_commits() as commits:
        response = call()
    return response, len(commits)


def test_a_keyed_repayment_and_refund_commit_once_and_replay(transactional_db, business_date):
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
        first, commits = _commits_of(call)
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


def _rows_of(account) -> dict:
    return {"entries": list(JournalEntry.objects.filter(credit_account=account).values_list("idempotency_key", "kind")
                            .order_by("id")),
            "lines": list(JournalLine.objects.filter(entry__credit_account=account)
                          .values_list("entry__idempotency_key", "book", "amount", "installment_id").order_by("id"))}


def test_a_keyed_repayment_and_refund_take_five_round_trips_and_answer_from_the_rows_written(
        transactional_db, business_date, monkeypatch):
    """BEGIN (psycopg waits for it), the key's claim with the booking's savepoint, the booking's
    reads, its one write statement, and the answer with COMMIT: five round trips, whatever the
    number of rows; four without a key."""
    # the outbox's delivery runs on a worker after commit, not in the booking (eager here): not counted
    monkeypatch.setattr(outbox, "enqueue_quietly", lambda task, ids: None)
    client, api = _client("storefront-round-trips")
    account = open_account(limit="1000.00")
    purchase = buy(api, account, amount="300.00", periods=3, order="o-rt", HTTP_IDEMPOTENCY_KEY="k-b").json()

    def keyed(key: str, answer) -> KeyInBooking:
        return KeyInBooking(client=client, key=key, fingerprint="f", method="POST", path="/p", now=timezone.now(),
                            answer=answer)

    # the first of each warms this process's caches (content types, translations)
    repayment_create(account_id=account.pk, reference="warm", amount=Decimal("1.00"),
                     request_key=keyed("k-warm-1", repayment_answer))
    refund_create(purchase_id=int(purchase["id"]), merchant_refund_id="warm", amount=Decimal("1.00"),
                  request_key=keyed("k-warm-2", refund_answer))
    with counted_round_trips() as repaying:
        repaid = repayment_create(account_id=account.pk, reference="r-rt", amount=Decimal("120.00"),
                                  request_key=keyed("k-rt-1", repayment_answer))
    with counted_round_trips() as refunding:
        refunded = refund_create(purchase_id=int(purchase["id"]), merchant_refund_id="m-rt", amount=Decimal("40.00"),
                                 request_key=keyed("k-rt-2", refund_answer))
    with counted_round_trips() as unkeyed:  # BEGIN, the reads, the write statement, COMMIT
        repayment_create(account_id=account.pk, reference="r-rt-2", amount=Decimal("10.00"))
    assert (repaying.round_trips, refunding.round_trips, unkeyed.round_trips) == (5, 5, 4), (
        repaying.statements, refunding.statements, unkeyed.statements)
    assert repaying.statements[-2].startswith("INSERT INTO accounts_idempotencyrecord")
    assert [s.split(" ")[0] for s in refunding.statements].count("WITH") == 1  # every row in one statement

    # the answers, built from the rows in memory, are what the rows say once read back
    stored = {r.key: r.response_body for r in IdempotencyRecord.objects.filter(key__in=["k-rt-1", "k-rt-2"])}
    read_back = Repayment.objects.prefetch_related("allocations").get(pk=repaid.repayment.pk)
    assert stored["k-rt-1"] == RepaymentOutSerializer(read_back).data == repayment_answer(repaid)[1]
    assert [(a.installment_id, a.fee_amount, a.principal_amount) for a in read_back.allocations.order_by("id")] == [
        (a.installment_id, a.fee_amount, a.principal_amount) for a in repaid.allocations]
    assert len(repaid.allocations) == 2 and all(a.pk for a in repaid.allocations)  # the keys came back
    refund_row = Refund.objects.get(pk=refunded.refund.pk)
    assert stored["k-rt-2"]["principal_reduced"] == f"{refund_row.principal_reduced:.2f}" == "40.00"
    assert stored["k-rt-2"]["available_limit"] == f"{refunded.available_limit:.2f}"
    account.refresh_from_db()
    last = Repayment.objects.get(reference="r-rt-2")
    assert account.available_limit == refunded.available_limit + last.limit_restored == last.available_limit_after
    repaid_principal = sum(r.principal_paid for r in Repayment.objects.filter(account=account))
    refunded_principal = sum(r.principal_reduced for r in Refund.objects.filter(purchase_id=int(purchase["id"])))
    assert account.principal_outstanding == Decimal("300.00") - repaid_principal - refunded_principal
    rows = _rows_of(account)
    assert rows["entries"][-3:] == [(f"repayment:{repaid.repayment.pk}", "repayment"),
                                    (f"refund:{refunded.refund.pk}", "refund"), (f"repayment:{last.pk}", "repayment")]
    assert [line[1:] for line in rows["lines"] if line[0] == f"refund:{refunded.refund.pk}"] == [
        ("merchant_settlement", Decimal("40.00"), None), ("principal_receivable", Decimal("-40.00"), None)]
    assert_ledger_ok()
