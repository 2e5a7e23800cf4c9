"""Repayments, auto-debit and the nightly close driven by ``close_business_day`` (issue 4)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from accounts import ledger_checks
from accounts.business_day import business_date_get
from accounts.models import (
    AccountStatusChange,
    AuditEvent,
    CreditAccount,
    JournalLine,
    LimitChange,
    Notification,
)
from config.cob import runner
from config.cob.models import CobFailure
from config.cob.pipeline import STEPS
from config.cob.runner import ADVISORY_LOCK_KEY, _unlock, run_day
from installments.gateway import SandboxGateway
from installments.models import (
    Installment,
    PaymentAttempt,
    Penalty,
    Repayment,
    RestorationHold,
    SandboxGatewayCharge,
    Statement,
)
from installments.services import fees, repayments
from installments.services.refunds import refund_create
from installments.services.repayments import repayment_create
from risk.selectors import repayment_history_for
from risk.services.policies import policy_activate, policy_draft_create, policy_draft_update
from tests.credit_lines import assert_ledger_ok, buy, close_until, open_account

pytestmark = pytest.mark.django_db
START = date(2026, 11, 20)


@pytest.fixture(autouse=True)
def start(business_date):
    return business_date


def test_tok_ok_is_debited_on_each_due_date_and_ends_fully_paid(db):
    account = open_account("tok_ok")
    buy(account)
    output = close_until(date(2027, 2, 21))
    assert output.count("closed") == 93
    attempts = list(PaymentAttempt.objects.filter(account=account).order_by("business_date")
                    .values_list("business_date", "status", "amount"))
    assert attempts == [(date(2026, 12, 20), "succeeded", Decimal("101.80")),
                        (date(2027, 1, 20), "succeeded", Decimal("101.80")),
                        (date(2027, 2, 20), "succeeded", Decimal("101.80"))]
    assert set(Installment.objects.filter(account=account).values_list("state", flat=True)) == {"paid"}
    account.refresh_from_db()
    assert account.principal_outstanding == account.fees_outstanding == Decimal("0.00")
    assert account.available_limit == account.credit_limit
    # three on-time installments and 90 days: the limit went up by 20 % on the last due date
    assert account.credit_limit == Decimal("1200.00")
    change = LimitChange.objects.get(account=account, reason_code="GOOD_REPAYMENT_HISTORY")
    assert (change.old_limit, change.new_limit, change.business_date) == \
        (Decimal("1000.00"), Decimal("1200.00"), date(2027, 2, 20))
    assert Notification.objects.filter(account=account, kind="limit_changed").count() == 1
    assert Notification.objects.filter(account=account, kind="limit_restored").count() == 3
    assert business_date_get() == date(2027, 2, 21)
    assert_ledger_ok()


def test_insufficient_funds_retries_penalties_suspension_and_reactivation(api):
    account = open_account("tok_insufficient_funds")
    buy(account)
    close_until(date(2026, 12, 30))
    attempts = list(PaymentAttempt.objects.filter(account=account).order_by("business_date")
                    .values_list("business_date", "status", "retry_on"))
    assert attempts == [
        (date(2026, 12, 20), "declined", date(2026, 12, 21)),
        (date(2026, 12, 21), "declined", date(2026, 12, 23)),
        (date(2026, 12, 23), "declined", date(2026, 12, 27)),
        (date(2026, 12, 27), "declined", date(2027, 1, 3)),  # after the ladder: every 7 days
    ]
    penalties = list(Penalty.objects.filter(account=account).values_list("business_date", "amount"))
    assert penalties == [(date(2026, 12, d), Decimal("0.05")) for d in range(24, 30)]
    account.refresh_from_db()
    assert account.status == "suspended"
    assert account.days_past_due == 9  # as classified by the close of 29 December
    assert account.status_changes.filter(reason_code="OVERDUE").count() == 1
    assert Notification.objects.filter(account=account, kind="debit_failed").count() == 4
    assert Notification.objects.filter(account=account, kind="overdue_warning").count() == 1
    # the customer pays everything due: penalties first, then fee, then principal
    response = api.post(f"/api/v1/accounts/{account.pk}/repayments", {"reference": "bank-1", "amount": "102.10"},
                        format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["allocations"][0] == {"installment_id": None, "penalty": "0.05", "fee": "0.00", "principal": "0.00"}
    assert body["allocations"][-1]["fee"] == "1.80" and body["allocations"][-1]["principal"] == "100.00"
    assert body["limit_restored"] == "100.00" and body["available_limit"] == "800.00"
    account.refresh_from_db()
    assert account.status == "active" and account.days_past_due == 0
    assert account.penalties_outstanding == 0
    assert_ledger_ok()


def test_timeout_charged_is_collected_exactly_once_after_reconciliation(db):
    account = open_account("tok_timeout_charged")
    buy(account)
    close_until(date(2026, 12, 21))
    attempt = PaymentAttempt.objects.get(account=account)
    assert attempt.status == "unknown"
    assert not Repayment.objects.filter(account=account).exists()
    close_until(date(2026, 12, 22))
    attempt.refresh_from_db()
    assert attempt.status == "succeeded"
    assert Repayment.objects.filter(account=account).count() == 1
    assert SandboxGatewayCharge.objects.filter(idempotency_key=attempt.idempotency_key).count() == 1
    assert PaymentAttempt.objects.filter(account=account).count() == 1
    account.refresh_from_db()
    assert account.principal_outstanding == Decimal("200.00")
    assert_ledger_ok()


def test_timeout_not_charged_is_reconciled_as_not_taken_and_retried(db):
    account = open_account("tok_timeout_not_charged")
    buy(account)
    close_until(date(2026, 12, 22))
    attempts = list(PaymentAttempt.objects.filter(account=account).order_by("business_date")
                    .values_list("business_date", "status"))
    assert attempts == [(date(2026, 12, 20), "not_charged"), (date(2026, 12, 21), "unknown")]
    assert not Repayment.objects.exists() and not SandboxGatewayCharge.objects.exists()
    assert_ledger_ok()


def test_card_closed_is_not_retried(db):
    account = open_account("tok_card_closed")
    buy(account)
    close_until(date(2027, 1, 22))
    attempts = list(PaymentAttempt.objects.filter(account=account).values_list("business_date", "status",
                                                                               "retry_on"))
    assert attempts == [(date(2026, 12, 20), "hard_declined", None)]
    note = Notification.objects.get(account=account, kind="debit_failed")
    assert note.params["card_closed"] is True
    assert_ledger_ok()


def test_overpayment_is_refused_and_changes_nothing(api):
    account = open_account("tok_ok")
    buy(account)
    before = (list(JournalLine.objects.values_list("id", flat=True)), CreditAccount.objects.values().get(pk=account.pk))
    response = api.post(f"/api/v1/accounts/{account.pk}/repayments", {"reference": "r", "amount": "300.01"},
                        format="json")
    assert response.status_code == 422
    assert response.json()["error"] == {"code": "overpayment", "message": "The amount is more than everything owed.",
                                        "details": {"payoff_total": "300.00"}}
    assert (list(JournalLine.objects.values_list("id", flat=True)),
            CreditAccount.objects.values().get(pk=account.pk)) == before
    assert not Repayment.objects.exists()


def test_prepayment_restores_limit_at_once_and_future_fees_are_never_charged(api):
    account = open_account("tok_ok")
    buy(account)
    body = api.post(f"/api/v1/accounts/{account.pk}/repayments", {"reference": "pre", "amount": "300.00"},
                    format="json").json()
    assert body["limit_restored"] == "300.00" and body["available_limit"] == "1000.00"
    assert [(a["fee"], a["principal"]) for a in body["allocations"]] == [("0.00", "100.00")] * 3
    replay = api.post(f"/api/v1/accounts/{account.pk}/repayments", {"reference": "pre", "amount": "300.00"},
                      format="json")
    assert replay.status_code == 200 and replay.json()["id"] == body["id"]
    close_until(date(2027, 2, 21))
    assert not PaymentAttempt.objects.exists()
    account.refresh_from_db()
    assert account.fees_outstanding == 0
    assert JournalLine.objects.filter(book="fee_income").count() == 0
    assert_ledger_ok()


def test_restoration_hold_from_policy_is_shown_and_released(api, manager, manager2):

    draft = policy_draft_create(acting_user=manager)
    params = dict(draft.params, restoration_hold_rules=[
        {"code": "NEW_ACCOUNT", "max_account_age_days": 30, "hold_hours": 24}])
    policy_draft_update(policy_id=draft.pk, params=params, notes="", acting_user=manager)
    policy_activate(policy_id=draft.pk, acting_user=manager2, reason_text="hold new accounts")  # four eyes
    account = open_account("tok_ok")
    buy(account)
    body = api.post(f"/api/v1/accounts/{account.pk}/repayments", {"reference": "h", "amount": "50.00"},
                    format="json").json()
    assert body["held_amount"] == "50.00" and body["limit_restored"] == "0.00"
    assert body["available_limit"] == "700.00" and body["hold_release_at"]
    assert api.get(f"/api/v1/accounts/{account.pk}").json()["held_amount"] == "50.00"
    assert_ledger_ok()
    hold = RestorationHold.objects.get()
    close_until(timezone.localdate(hold.release_at) - timedelta(days=1))  # not yet due: still held
    account.refresh_from_db()
    assert account.held_amount == Decimal("50.00")
    close_until(timezone.localdate(hold.release_at) + timedelta(days=1))
    account.refresh_from_db()
    assert account.held_amount == 0 and account.available_limit == Decimal("750.00")
    assert RestorationHold.objects.get().released_at is not None
    assert_ledger_ok()


def _sorted(rows):
    return sorted(rows, key=repr)


def _normalized_state():
    """Everything a close of business writes, without surrogate ids and timestamps."""
    lines = _sorted((line.credit_account_id, line.book, str(line.amount), line.entry.kind, str(line.business_date))
                   for line in JournalLine.objects.select_related("entry"))
    attempts = _sorted(PaymentAttempt.objects.values_list("account_id", "business_date", "status", "amount",
                                                         "idempotency_key", "retry_on"))
    penalties = _sorted(Penalty.objects.values_list("account_id", "business_date", "amount", "amount_paid"))
    accounts = _sorted(CreditAccount.objects.values_list(
        "id", "status", "credit_limit", "available_limit", "principal_outstanding", "fees_outstanding",
        "penalties_outstanding", "credit_balance", "days_past_due", "last_overdue_on"))
    limits = _sorted(LimitChange.objects.values_list("account_id", "old_limit", "new_limit", "reason_code"))
    notes = _sorted((n.account_id, n.kind, str(_sorted(n.params.items()))) for n in Notification.objects.all())
    installments = _sorted(Installment.objects.values_list("account_id", "seq", "principal_paid", "fee_paid", "state"))
    charges = _sorted(SandboxGatewayCharge.objects.values_list("idempotency_key", "amount", "outcome"))
    statements = _sorted((s.account_id, s.statement_date, s.earliest_due_date, s.principal_due, s.fees_due,
                          s.overdue_amount, s.penalties, s.total_due, _sorted(s.installments.values_list("pk", flat=True)))
                         for s in Statement.objects.all())
    status_changes = _sorted(AccountStatusChange.objects.values_list(
        "account_id", "from_status", "to_status", "reason_code", "note", "business_date"))
    return (lines, attempts, penalties, accounts, limits, notes, installments, charges, statements, status_changes,
            business_date_get())


def _scenario():
    cards = ["tok_ok", "tok_ok", "tok_insufficient_funds", "tok_timeout_charged", "tok_timeout_not_charged",
             "tok_card_closed", "tok_ok"]
    accounts = [open_account(card, n=n) for n, card in enumerate(cards)]
    for n, account in enumerate(accounts):
        buy(account, amount=f"{300 + n * 30}.00", periods=(1, 3, 6, 12)[n % 4], order=f"o-{n}")
    close_until(date(2026, 12, 20))  # the day to close next is the first due date


def test_running_the_same_day_twice_changes_nothing(db):
    _scenario()
    day = business_date_get()
    run = run_day(day)
    once = _normalized_state()
    run_day(day, rerun_completed_steps=True)
    assert _normalized_state() == once
    assert run.steps.values("step").distinct().count() == len(STEPS) + 1  # and the retry of earlier failures
    assert PaymentAttempt.objects.count() == 7
    assert_ledger_ok()


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing catches it."""


def test_a_crash_in_the_middle_of_a_day_then_rerun_equals_a_clean_run(db, monkeypatch):
    _scenario()
    savepoint = transaction.savepoint()
    call_command("close_business_day", stdout=StringIO())
    clean = _normalized_state()
    transaction.savepoint_rollback(savepoint)


    real_charge_many = SandboxGateway.charge_many

    def dying_charge_many(self, charges):
        real_charge_many(self, charges[:1])  # the gateway takes the first charge …
        raise Killed()  # … and the process dies: every attempt committed, no answer settled

    monkeypatch.setattr(SandboxGateway, "charge_many", dying_charge_many)
    with pytest.raises(Killed):
        call_command("close_business_day", stdout=StringIO())
    assert PaymentAttempt.objects.filter(status="submitted").count() >= 2
    assert business_date_get() == date(2026, 12, 20)
    _unlock()  # a killed process's session lock goes with its connection
    monkeypatch.setattr(SandboxGateway, "charge_many", real_charge_many)
    call_command("close_business_day", stdout=StringIO())
    assert _normalized_state() == clean
    assert_ledger_ok()


def test_a_failing_account_is_recorded_and_the_day_goes_on(db, monkeypatch):
    bad = open_account("tok_ok", n=1)
    good = open_account("tok_ok", n=2)
    buy(bad, order="b")
    buy(good, order="g")
    close_until(date(2026, 12, 20))
    real = fees.post_fees

    def failing(accounts, **due):
        if bad.pk in accounts:
            raise RuntimeError("disk on fire")  # a chunk holding it fails, then it fails alone
        return real(accounts, **due)

    # the close's fee step and a repayment's posting of the fees already due both go through it
    monkeypatch.setattr(fees, "post_fees", failing)
    monkeypatch.setattr(repayments, "post_fees", failing)
    output = close_until(date(2026, 12, 21))
    # the bad account fails in every step that posts its fees (post_fees, and auto_debit which
    # posts a due fee before collecting); the good account is untouched by that
    assert "failures=2" in output
    failures = list(CobFailure.objects.order_by("id"))
    assert {f.account_id for f in failures} == {bad.pk}
    assert [f.step_run.step for f in failures] == ["post_fees", "auto_debit"]
    assert all("disk on fire" in f.error for f in failures)
    assert Installment.objects.get(account=good, seq=1).state == "paid"
    assert business_date_get() == date(2026, 12, 21)


def test_two_closes_never_overlap(db):
    settings_dict = connection.settings_dict
    other = psycopg.connect(host=settings_dict["HOST"] or "127.0.0.1", port=settings_dict["PORT"] or 5432,
                            user=settings_dict["USER"], dbname=settings_dict["NAME"], autocommit=True)
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        before = AuditEvent.objects.count()
        with pytest.raises(Exception, match="another close of business is running"):
            call_command("close_business_day", stdout=StringIO())
        assert business_date_get() == START
        assert AuditEvent.objects.count() == before
    finally:
        other.close()


def test_until_in_the_past_is_refused(db):
    with pytest.raises(Exception, match="before the business date"):
        call_command("close_business_day", "--until", "2026-01-01", stdout=StringIO())
    assert business_date_get() == START


def test_write_off_after_180_days(db):
    account = open_account("tok_insufficient_funds")
    buy(account, amount="100.00", periods=1)
    close_until(date(2026, 12, 20) + timedelta(days=182))
    account.refresh_from_db()
    assert account.status == "closed" and account.closed_reason == "WRITE_OFF"
    assert account.principal_outstanding == account.penalties_outstanding == 0
    assert JournalLine.objects.filter(book="write_off_expense", credit_account__isnull=True).exists()
    # severe delinquency cut the limit to the outstanding principal on day 31
    assert LimitChange.objects.filter(account=account, reason_code="SEVERE_DELINQUENCY",
                                      new_limit=Decimal("100.00")).exists()
    assert_ledger_ok()


def test_audit_ledger_catches_a_double_collection(db):
    account = open_account("tok_ok")
    buy(account)
    close_until(date(2026, 12, 21))
    first = Installment.objects.get(account=account, seq=1)
    assert first.state == "paid"
    assert_ledger_ok()
    with connection.cursor() as cursor:  # the same dues booked again behind the ledger service's back
        cursor.execute("""INSERT INTO accounts_journalentry (idempotency_key, kind, business_date, credit_account_id,
                          description, created_at) VALUES ('evil', 'repayment', '2026-12-20', %s, '', NOW())
                          RETURNING id""", [account.pk])
        entry_id = cursor.fetchone()[0]
        cursor.execute("""INSERT INTO accounts_journalline (entry_id, book, credit_account_id, amount, installment_id,
                          business_date, created_at) VALUES
                          (%s, 'repayments_clearing', NULL, 100.00, NULL, '2026-12-20', NOW()),
                          (%s, 'principal_receivable', %s, -100.00, %s, '2026-12-20', NOW())""",
                       [entry_id, entry_id, account.pk, first.pk])
    violations, counts = ledger_checks.run_all()
    assert counts["nothing collected twice"] == 1
    assert f"installment {first.pk}: 200.00 principal collected against 100.00 owed" in "\n".join(violations)
    assert counts["account balances equal the ledger"] == 1


def test_repaying_on_the_due_date_before_the_close_still_pays_the_fee(api):
    account = open_account("tok_ok")
    buy(account)
    close_until(date(2026, 12, 20))  # business day 20 December, its close not run yet
    body = api.post(f"/api/v1/accounts/{account.pk}/repayments", {"reference": "on-time", "amount": "101.80"},
                    format="json").json()
    assert [(a["fee"], a["principal"]) for a in body["allocations"]] == [("1.80", "100.00")]
    first = Installment.objects.get(account=account, seq=1)
    assert (first.state, first.fee_paid, first.fee_posted) == ("paid", Decimal("1.80"), True)
    close_until(date(2026, 12, 21))
    assert not PaymentAttempt.objects.exists()
    account.refresh_from_db()
    assert account.fees_outstanding == 0 and account.principal_outstanding == Decimal("200.00")
    assert_ledger_ok()


def test_repayment_history_feeds_the_scorecard(db):
    on_time = open_account("tok_ok", n=1)
    late = open_account("tok_insufficient_funds", n=2)
    buy(on_time, order="a")
    buy(late, order="b")
    close_until(date(2027, 1, 25))
    good = repayment_history_for(on_time.customer, until=None, lookback_days=None)
    assert (good.installments_due, good.installments_on_time, good.max_days_late) == (2, 2, 0)
    bad = repayment_history_for(late.customer, until=None, lookback_days=None)
    assert (bad.installments_due, bad.installments_on_time, bad.max_days_late) == (2, 0, 36)


def test_a_chunk_of_one_account_writes_what_a_chunk_of_many_writes(db, monkeypatch):
    """Every chunked step is one function of a chunk of accounts; the close falls back to
    chunks of one when a chunk fails. Over three months of successes, declines with retries,
    penalties, suspension and reactivation, timeouts, a closed card and a credit balance, the
    close with one account per chunk writes exactly the rows of the close with every account
    in one chunk."""
    _scenario()
    refund_target = open_account("tok_ok", n=20)  # a credit balance pays dues before the card
    purchase = buy(refund_target, amount="200.00", periods=1, order="r-1")
    repayment_create(account_id=refund_target.pk, amount=Decimal("200.00"), reference="pre-1")
    refund_create(purchase_id=purchase.pk, amount=Decimal("50.00"), merchant_refund_id="rf-1")
    savepoint = transaction.savepoint()
    close_until(date(2027, 3, 1))
    batched = _normalized_state()
    transaction.savepoint_rollback(savepoint)

    monkeypatch.setattr(runner, "CHUNK_SIZE", 1)
    close_until(date(2027, 3, 1))
    one_by_one = _normalized_state()
    assert one_by_one == batched
    statuses = {status for _, _, status, *_ in batched[1]}
    assert {"succeeded", "declined", "hard_declined"} <= statuses
    assert len(batched[8]) >= 7 and batched[9]  # statements were issued, an account was suspended
    assert_ledger_ok()
