"""Remedies from a complaint (docs/rules.md §10): fee and penalty waivers as ledger reversals
(above 100.00 a supervisor approves), early release of a restoration hold, starting a
closure. Each refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from accounts import ledger_checks
from accounts.errors import BusinessRuleRefused, Conflict, PermissionRefused, ValidationFailed
from accounts.models import AuditEvent, CreditAccount, JournalEntry
from complaints.models import ClosureRequest, WaiverStatus
from complaints.services.remedies import (
    complaint_release_hold,
    complaint_start_closure,
    complaint_waiver_request,
    waiver_approve,
    waiver_reject,
)
from installments.models import Installment, Penalty, RestorationHold
from installments.services.delinquency import penalties_accrue_accounts
from installments.services.fees import fees_post_due_accounts

from .helpers import buy, file, hold_new_accounts, open_account, repay, working, world

pytestmark = pytest.mark.django_db


def assert_ledger_ok():
    violations, _counts = ledger_checks.run_all()
    assert violations == []


def posted_fee_account(limit: str, amount: str, n: int = 1) -> tuple[CreditAccount, Installment]:
    """An account whose first installment's fee is posted (the close of its due date did)."""
    account = open_account(n, limit=limit)
    buy(account, amount=amount, periods=3)
    first = Installment.objects.filter(account=account).order_by("seq").first()
    fees_post_due_accounts(account_ids=[account.pk], business_date=first.due_date)
    first.refresh_from_db()
    account.refresh_from_db()
    return account, first


def waive(complaint, user, item_id: int, amount: str, kind: str = "fee"):
    return complaint_waiver_request(complaint_id=complaint.pk, kind=kind, item_id=item_id,
                                             amount=Decimal(amount), reason_text="goodwill", acting_user=user)


def test_an_agent_waives_a_small_fee_as_a_ledger_reversal(agent):
    account, first = posted_fee_account("1000.00", "300.00")
    assert (first.fee, account.fees_outstanding) == (Decimal("1.80"), Decimal("1.80"))
    complaint = working(file(account, category="fee_dispute"), agent)

    waiver = waive(complaint, agent, first.pk, "1.80")

    assert (waiver.status, waiver.decided_by, waiver.requested_by) == (WaiverStatus.APPLIED, agent, agent)
    entry = JournalEntry.objects.get(idempotency_key=f"waiver:{waiver.pk}")
    assert waiver.journal_entry == entry and entry.kind == "fee_waiver" and entry.actor == agent
    assert sorted(entry.lines.values_list("book", "amount", "installment_id")) == [
        ("fee_receivable", Decimal("-1.80"), first.pk), ("waiver_expense", Decimal("1.80"), None)]
    first.refresh_from_db()
    account.refresh_from_db()
    assert (first.fee_waived, first.fee_unpaid, account.fees_outstanding) == (Decimal("1.80"), 0, 0)
    assert AuditEvent.objects.filter(action="waiver.applied", object_id=str(waiver.pk), actor=agent).count() == 1
    assert AuditEvent.objects.filter(action="complaint.waiver_applied", object_id=str(complaint.pk)).count() == 1
    assert_ledger_ok()


def test_a_waiver_above_100_waits_for_a_supervisor_and_an_agent_cannot_approve_it(agent, supervisor):
    account, first = posted_fee_account("20000.00", "20000.00")
    assert first.fee == Decimal("120.00")
    complaint = working(file(account, category="fee_dispute"), agent)

    waiver = waive(complaint, agent, first.pk, "120.00")

    assert waiver.status == WaiverStatus.PENDING
    assert waiver.journal_entry is None
    account.refresh_from_db()
    assert account.fees_outstanding == Decimal("120.00")
    before = world()
    for refused in (lambda: waiver_approve(waiver_id=waiver.pk, acting_user=agent),
                    lambda: waiver_reject(waiver_id=waiver.pk, note="no", acting_user=agent)):
        with pytest.raises(PermissionRefused):
            refused()
    assert world() == before

    waiver_approve(waiver_id=waiver.pk, note="customer was misinformed", acting_user=supervisor)

    waiver.refresh_from_db()
    account.refresh_from_db()
    assert (waiver.status, waiver.decided_by, waiver.requested_by) == (WaiverStatus.APPLIED, supervisor, agent)
    assert account.fees_outstanding == Decimal("0.00")
    assert AuditEvent.objects.get(action="waiver.approved").actor == supervisor
    before = world()
    with pytest.raises(Conflict):
        waiver_approve(waiver_id=waiver.pk, acting_user=supervisor)
    assert world() == before
    assert_ledger_ok()


def test_a_supervisor_waives_above_100_at_once_or_rejects_a_request(agent, supervisor):
    account, first = posted_fee_account("20000.00", "20000.00")
    complaint = working(file(account, category="fee_dispute"), agent)
    pending = waive(complaint, agent, first.pk, "100.01")
    before = world()
    with pytest.raises(ValidationFailed):
        waiver_reject(waiver_id=pending.pk, note=" ", acting_user=supervisor)
    assert world() == before
    waiver_reject(waiver_id=pending.pk, note="not justified", acting_user=supervisor)
    pending.refresh_from_db()
    assert (pending.status, pending.decision_note) == (WaiverStatus.REJECTED, "not justified")
    account.refresh_from_db()
    assert account.fees_outstanding == Decimal("120.00")

    own = waive(complaint, supervisor, first.pk, "120.00")
    assert own.status == WaiverStatus.APPLIED
    account.refresh_from_db()
    assert account.fees_outstanding == Decimal("0.00")
    assert_ledger_ok()


def test_waiver_refusals_change_nothing(agent, agent2):
    account, first = posted_fee_account("1000.00", "300.00")
    second = Installment.objects.get(account=account, seq=2)  # fee not posted yet: nothing to waive
    new = file(account, category="fee_dispute")
    before = world()
    with pytest.raises(Conflict):  # not being worked yet
        waive(new, agent, first.pk, "1.00")
    complaint = working(new, agent)
    before = world()
    with pytest.raises(BusinessRuleRefused) as too_much:
        waive(complaint, agent, first.pk, "1.81")
    assert too_much.value.code == "waiver_exceeds_owed" and too_much.value.details == {"owed": "1.80"}
    with pytest.raises(BusinessRuleRefused):
        waive(complaint, agent, second.pk, "0.50")
    with pytest.raises(ValidationFailed):
        waive(complaint, agent, first.pk, "0.00")
    with pytest.raises(ValidationFailed):
        waive(complaint, agent, first.pk, "1.00", kind="principal")
    with pytest.raises(ValidationFailed):
        complaint_waiver_request(complaint_id=complaint.pk, kind="fee", item_id=first.pk,
                                          amount=Decimal("1.00"), reason_text="", acting_user=agent)
    with pytest.raises(PermissionRefused):  # not the assignee
        waive(complaint, agent2, first.pk, "1.00")
    assert world() == before
    _other, foreign = posted_fee_account("1000.00", "300.00", n=2)
    before = world()
    with pytest.raises(ValidationFailed):  # another account's fee
        waive(complaint, agent, foreign.pk, "1.00")
    assert world() == before


def test_a_penalty_is_waived_through_penalty_receivable(agent):
    account = open_account(limit="1000.00")
    buy(account, amount="100.00", periods=1)
    due = Installment.objects.get(account=account).due_date
    assert penalties_accrue_accounts(account_ids=[account.pk], business_date=due + timedelta(days=5)) == Decimal("0.05")
    penalty = Penalty.objects.get(account=account)
    complaint = working(file(account, category="fee_dispute"), agent)

    waiver = waive(complaint, agent, penalty.pk, "0.05", kind="penalty")

    assert waiver.status == WaiverStatus.APPLIED
    assert sorted(waiver.journal_entry.lines.values_list("book", "amount")) == [
        ("penalty_receivable", Decimal("-0.05")), ("waiver_expense", Decimal("0.05"))]
    penalty.refresh_from_db()
    account.refresh_from_db()
    assert (penalty.amount_waived, penalty.unpaid, account.penalties_outstanding) == (Decimal("0.05"), 0, 0)
    assert_ledger_ok()


def test_a_supervisor_releases_a_restoration_hold_an_agent_may_not(agent, supervisor, manager):
    hold_new_accounts(manager)
    account = open_account()
    buy(account)
    repay(account, "50.00", "h-1")
    hold = RestorationHold.objects.get(account=account)
    complaint = working(file(account), agent)
    before = world()
    with pytest.raises(PermissionRefused):
        complaint_release_hold(complaint_id=complaint.pk, hold_id=hold.pk, reason_text="asked",
                                        acting_user=agent)
    with pytest.raises(ValidationFailed):
        complaint_release_hold(complaint_id=complaint.pk, hold_id=hold.pk, reason_text="",
                                        acting_user=supervisor)
    assert world() == before
    assert RestorationHold.objects.get(pk=hold.pk).released_at is None

    released = complaint_release_hold(complaint_id=complaint.pk, hold_id=hold.pk,
                                               reason_text="customer needs the limit today", acting_user=supervisor)

    assert released == Decimal("50.00")
    hold.refresh_from_db()
    account.refresh_from_db()
    assert hold.released_by == supervisor and hold.released_at is not None
    assert (account.held_amount, account.available_limit) == (Decimal("0.00"), Decimal("750.00"))
    assert AuditEvent.objects.filter(action="complaint.hold_released", object_id=str(complaint.pk)).count() == 1
    before = world()
    with pytest.raises(Conflict):
        complaint_release_hold(complaint_id=complaint.pk, hold_id=hold.pk, reason_text="again",
                                        acting_user=supervisor)
    assert world() == before
    assert_ledger_ok()


def test_starting_a_closure_from_a_complaint(agent, reviewer):
    account = open_account()
    complaint = working(file(account, category="closure"), agent)
    before = world()
    with pytest.raises(PermissionRefused):
        complaint_start_closure(complaint_id=complaint.pk, note="x", acting_user=reviewer)
    assert world() == before

    request = complaint_start_closure(complaint_id=complaint.pk, note="Customer wants to close.",
                                               identity_method="ID card on video call", acting_user=agent)

    # nothing owed, identity verified, no dispute: closed at once
    assert (request.status, request.complaint, request.channel) == ("approved", complaint, "app")
    account.refresh_from_db()
    assert (account.status, account.closed_reason) == ("closed", "CUSTOMER_REQUEST")
    assert AuditEvent.objects.filter(action="complaint.closure_started", object_id=str(complaint.pk)).count() == 1
    assert ClosureRequest.objects.count() == 1
