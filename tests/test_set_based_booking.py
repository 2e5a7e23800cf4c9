"""The close's set-based booking (issue 18, decision 0037) against the account-by-account
result, on real PostgreSQL: ``ledger.post_entries`` (one statement per table) writes the
lines and moves the balances ``ledger.post_entry`` does entry by entry; ``accounts.bulk``
writes what Django's ``bulk_create`` writes; and a set-based booking still takes the account
row locks, so a purchase or a repayment in another connection waits for it and is never
lost."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.bulk import insert_rows, update_rows
from accounts.business_day import business_date_set
from accounts.ledger import (
    EntrySpec,
    Leg,
    lock_credit_accounts,
    post_entries,
    post_entry,
    save_accounts,
)
from accounts.models import Book, CreditAccount, JournalEntry, JournalLine, Notification
from installments.models import PaymentAttempt, Repayment
from installments.services import reconciliation
from installments.services.auto_debit import auto_debit_accounts
from installments.services.purchases import purchase_create
from installments.services.repayments import repayment_create
from tests.credit_lines import assert_ledger_ok, buy, open_account

pytestmark = pytest.mark.django_db
DAY = date(2026, 12, 20)
BALANCES = ["principal_outstanding", "fees_outstanding", "penalties_outstanding", "credit_balance", "available_limit"]


def _specs(accounts: list[CreditAccount], tag: str, manager) -> list[EntrySpec]:
    """Entries of every shape the close posts, for each account: fees on installments, a
    repayment over penalty, fee and principal, a surplus kept as credit, a penalty; and one
    entry of the company's books only, one by a member of staff, one with a long description."""
    specs = []
    for n, account in enumerate(accounts):
        specs += [
            EntrySpec(account=account, key=f"{tag}:fees:{n}", kind="fee", business_date=DAY,
                      legs=[Leg(Book.FEE_RECEIVABLE, Decimal("1.80"), 1000 + n), Leg(Book.FEE_RECEIVABLE,
                                                                                   Decimal("0.20"), 2000 + n),
                            Leg(Book.FEE_INCOME, Decimal("-2.00"))], description="installment fees due"),
            EntrySpec(account=account, key=f"{tag}:penalty:{n}", kind="penalty", business_date=DAY,
                      legs=[Leg(Book.PENALTY_RECEIVABLE, Decimal("0.15")), Leg(Book.PENALTY_INCOME, Decimal("-0.15"))]),
            EntrySpec(account=account, key=f"{tag}:repayment:{n}", kind="repayment", business_date=DAY,
                      legs=[Leg(Book.REPAYMENTS_CLEARING, Decimal("101.95")), Leg(Book.PENALTY_RECEIVABLE,
                                                                                  Decimal("-0.15")),
                            Leg(Book.FEE_RECEIVABLE, Decimal("-1.80"), 1000 + n),
                            Leg(Book.PRINCIPAL_RECEIVABLE, Decimal("-100.00"), 1000 + n)],
                      description='auto_debit debit:1:2026-12-20 "quoted", {braced} \\ back'),
            EntrySpec(account=account, key=f"{tag}:surplus:{n}", kind="surplus_to_credit", business_date=DAY,
                      legs=[Leg(Book.REPAYMENTS_CLEARING, Decimal("5.00")), Leg(Book.CUSTOMER_CREDIT,
                                                                                Decimal("-5.00"))]),
        ]
    specs += [
        EntrySpec(account=None, key=f"{tag}:company", kind="payout_paid", business_date=DAY - timedelta(days=1),
                  legs=[Leg(Book.PAYOUTS_PENDING, Decimal("7.00")), Leg(Book.REPAYMENTS_CLEARING, Decimal("-7.00"))]),
        EntrySpec(account=accounts[0], key=f"{tag}:waiver", kind="fee_waiver", business_date=DAY, acting_user=manager,
                  legs=[Leg(Book.WAIVER_EXPENSE, Decimal("0.20")), Leg(Book.FEE_RECEIVABLE, Decimal("-0.20"), 2000)],
                  description="x" * 300),
    ]
    return specs


def _posted(accounts: list[CreditAccount], tag: str) -> tuple[list, list, list]:
    index = {a.pk: n for n, a in enumerate(accounts)}
    entries = list(JournalEntry.objects.filter(idempotency_key__startswith=f"{tag}:").order_by("id"))
    entry_rows = [(e.idempotency_key.split(":", 1)[1], e.kind, e.business_date, index.get(e.credit_account_id),
                   e.description, e.actor_id) for e in entries]
    line_rows = [(line.entry.idempotency_key.split(":", 1)[1], line.book, line.amount, line.installment_id,
                  index.get(line.credit_account_id), line.business_date)
                 for line in JournalLine.objects.filter(entry__in=entries).select_related("entry").order_by("id")]
    balances = [tuple(getattr(a, f) for f in BALANCES) for a in CreditAccount.objects.filter(
        pk__in=[a.pk for a in accounts]).order_by("id")]
    return entry_rows, line_rows, balances


def test_post_entries_writes_and_moves_what_post_entry_does_one_by_one(business_date, manager):
    batched = [open_account("tok_ok", n=n) for n in range(3)]
    one_by_one = [open_account("tok_ok", n=n) for n in range(3, 6)]
    for tag, accounts in (("batch", batched), ("single", one_by_one)):
        for n, account in enumerate(accounts):
            buy(account, order=f"{tag}-{n}")
        with transaction.atomic():  # an entry already posted is skipped by both
            [locked] = lock_credit_accounts([accounts[1].pk]).values()
            post_entry(account=locked, key=f"{tag}:penalty:1", kind="penalty", business_date=DAY,
                       legs=[Leg(Book.PENALTY_RECEIVABLE, Decimal("0.15")), Leg(Book.PENALTY_INCOME, Decimal("-0.15"))])

    with transaction.atomic():
        locked = lock_credit_accounts([a.pk for a in batched])
        specs = _specs([locked[a.pk] for a in batched], "batch", manager)
        with CaptureQueriesContext(connection) as queries:
            moved = post_entries(specs)
        save_accounts(moved)
    assert len(queries.captured_queries) == 2  # the entries, then the lines: one statement each
    assert {a.pk for a in moved} == {a.pk for a in batched}

    with transaction.atomic():
        locked = lock_credit_accounts([a.pk for a in one_by_one])
        for spec in _specs([locked[a.pk] for a in one_by_one], "single", manager):
            post_entry(account=spec.account, key=spec.key, kind=spec.kind, legs=spec.legs,
                       business_date=spec.business_date, description=spec.description, acting_user=spec.acting_user)

    # (synthetic entries: the installments are not paid, so audit_ledger's checks do not apply;
    # every entry balanced at commit — the deferred trigger)
    assert _posted(batched, "batch") == _posted(one_by_one, "single")


def test_post_entries_refuses_what_post_entry_refuses(business_date):
    account = open_account("tok_ok")
    with pytest.raises(ValueError, match="does not balance"), transaction.atomic():
        locked = lock_credit_accounts([account.pk])[account.pk]
        post_entries([EntrySpec(account=locked, key="bad", kind="fee", business_date=DAY,
                                legs=[Leg(Book.FEE_RECEIVABLE, Decimal("1.00")), Leg(Book.FEE_INCOME, Decimal("-0.99"))])])
    with pytest.raises(ValueError, match="twice"), transaction.atomic():
        spec = EntrySpec(account=None, key="twice", kind="x", business_date=DAY,
                         legs=[Leg(Book.FEE_INCOME, Decimal("1.00")), Leg(Book.WAIVER_EXPENSE, Decimal("-1.00"))])
        post_entries([spec, spec])
    assert not JournalEntry.objects.filter(idempotency_key__in=["bad", "twice"]).exists()


AWKWARD = ['plain', '', 'NULL', 'with "quotes", commas, {braces}', 'back\\slash\\', "it's", '中文 全角，',
           'new\nline\ttab', ' spaces ']


def test_insert_rows_and_update_rows_write_what_the_orm_writes(business_date):
    account = open_account("tok_ok")
    params = [{"text": text, "amount": "1.50", "nested": {"list": [1, None, True], "text": text}} for text in AWKWARD]
    with transaction.atomic():
        Notification.objects.bulk_create([
            Notification(customer_id=account.customer_id, account=account, kind=f"orm {t}", event_key=f"orm-{n}",
                         params=p, rendered=t) for n, (t, p) in enumerate(zip(AWKWARD, params, strict=True))])
        insert_rows([
            Notification(customer_id=account.customer_id, account=None if n % 2 else account, kind=f"set {t}",
                         event_key=f"set-{n}", params=p, rendered=t)
            for n, (t, p) in enumerate(zip(AWKWARD, params, strict=True))])
    orm = list(Notification.objects.filter(event_key__startswith="orm-").order_by("id"))
    bulk = list(Notification.objects.filter(event_key__startswith="set-").order_by("id"))
    assert [(n.kind[4:], n.params, n.rendered, n.status) for n in orm] == \
        [(n.kind[4:], n.params, n.rendered, n.status) for n in bulk]
    assert [n.account_id for n in bulk] == [None if n % 2 else account.pk for n in range(len(AWKWARD))]

    attempts = insert_rows([
        PaymentAttempt(account=account, business_date=DAY + timedelta(days=n), idempotency_key=f"k-{n}",
                       card_token="tok_ok", amount=Decimal("12.34"), series_start=DAY, status="declined")
        for n in range(len(AWKWARD))])
    assert [a.pk for a in attempts] == sorted(a.pk for a in attempts)
    at = datetime(2026, 12, 20, 8, 30, 15, 123456, tzinfo=UTC)
    for attempt, text in zip(attempts, AWKWARD, strict=True):
        attempt.decline_code, attempt.gateway_reference, attempt.retry_on, attempt.updated_at = text, text, None, at
    attempts[0].retry_on = DAY
    update_rows(attempts, ["decline_code", "gateway_reference", "retry_on", "updated_at"])
    stored = list(PaymentAttempt.objects.filter(pk__in=[a.pk for a in attempts]).order_by("id"))
    assert [(a.decline_code, a.gateway_reference, a.retry_on, a.updated_at) for a in stored] == \
        [(t, t, DAY if n == 0 else None, at) for n, t in enumerate(AWKWARD)]


# --- the row locks: a set-based booking and a purchase or repayment in another connection ----------


def _waiting_on_a_lock(seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND wait_event_type = 'Lock'")
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("other", ["repayment", "purchase"])
def test_a_purchase_or_repayment_waits_for_the_set_based_settlement_and_is_never_lost(business_date, monkeypatch,
                                                                                      other):
    accounts = [open_account("tok_ok", n=n) for n in range(3)]
    for account in accounts:
        buy(account, amount="300.00", periods=3, order=f"first-{account.pk}")  # 100.00 + 1.80 due on DAY
    business_date_set(new_date=DAY, acting_user=None, reason="test")
    target = accounts[1]
    locked, release = threading.Event(), threading.Event()
    booking = reconciliation._book_collected

    def book_when_released(collected):
        locked.set()  # the chunk's account rows are locked (settle_attempts) and nothing is booked yet
        assert release.wait(30)
        booking(collected)

    monkeypatch.setattr(reconciliation, "_book_collected", book_when_released)
    outcome: dict[str, object] = {}

    def run(name, call):
        try:
            outcome[name] = call()
        except Exception as exc:
            outcome[name] = exc
        finally:
            connection.close()

    close = threading.Thread(target=run, args=("close", lambda: auto_debit_accounts(
        account_ids=[a.pk for a in accounts], business_date=DAY)))
    if other == "repayment":
        call = lambda: repayment_create(account_id=target.pk, reference="during-close", amount=Decimal("50.00"))  # noqa: E731
    else:
        call = lambda: purchase_create(account_id=target.pk, merchant_order_id="during-close",  # noqa: E731
                                       amount=Decimal("60.00"), periods=1)
    close.start()
    assert locked.wait(30)
    customer = threading.Thread(target=run, args=(other, call))
    customer.start()
    try:
        assert _waiting_on_a_lock(), "the other booking did not wait for the close's row lock"
        assert customer.is_alive()
    finally:
        release.set()
        close.join(60)
        customer.join(60)
    assert outcome["close"] == {"succeeded": 3}, outcome
    assert not isinstance(outcome[other], Exception), outcome

    target.refresh_from_db()
    debited = Repayment.objects.get(account=target, source="auto_debit")
    assert debited.amount == Decimal("101.80")
    if other == "repayment":  # after the debit: prepays installment 2
        assert target.principal_outstanding == Decimal("150.00")
        assert Repayment.objects.get(account=target, source="manual").principal_paid == Decimal("50.00")
    else:
        assert target.principal_outstanding == Decimal("260.00")
    assert target.available_limit == target.credit_limit - target.principal_outstanding
    assert_ledger_ok()


def test_each_set_based_step_takes_the_chunks_row_locks(business_date):
    """The chunk functions lock their accounts (``FOR UPDATE``) before they read balances."""
    account = open_account("tok_ok")
    buy(account)
    business_date_set(new_date=DAY, acting_user=None, reason="test")
    with CaptureQueriesContext(connection) as queries:
        auto_debit_accounts(account_ids=[account.pk], business_date=DAY)
    sql = [q["sql"] for q in queries.captured_queries]
    locks = [n for n, s in enumerate(sql) if "accounts_creditaccount" in s and "FOR UPDATE" in s]
    writes = [n for n, s in enumerate(sql) if 'UPDATE "accounts_creditaccount"' in s]  # or a CTE of one
    assert len(locks) == 2 and writes and writes[-1] > locks[-1]  # attempts, then the settlement
    assert not any("accounts_journalentry" in s and s.startswith("SELECT") for s in sql)  # ON CONFLICT, no lookup
