"""Waivers add up (docs/rules.md §10): the agent's 100.00 cap is on the total waived on one item
(an installment's fee, a penalty), earlier waivers applied or awaiting a supervisor included;
rejected ones do not count. Above it a waiver waits for a supervisor and nothing is applied."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts import ledger_checks
from accounts.models import AuditEvent, CreditAccount, JournalEntry
from complaints.models import Complaint, Waiver, WaiverStatus
from complaints.services.remedies import complaint_waiver_request, waiver_approve, waiver_reject
from installments.models import Installment
from installments.services.fees import fees_post_due_accounts

from .helpers import buy, client_for, file, open_account, working

pytestmark = pytest.mark.django_db


def fee_account(amount: str, n: int = 1) -> tuple[CreditAccount, Installment, Installment]:
    """An account with ``amount`` bought in 3 installments, the fees of the first two posted."""
    account = open_account(n, limit=amount)
    buy(account, amount=amount, periods=3)
    first, second = Installment.objects.filter(account=account).order_by("seq")[:2]
    for installment in (first, second):
        fees_post_due_accounts(account_ids=[account.pk], business_date=installment.due_date)
    first.refresh_from_db()
    second.refresh_from_db()
    return account, first, second


def waive(complaint: Complaint, user, item_id: int, amount: str, kind: str = "fee") -> Waiver:
    return complaint_waiver_request(complaint_id=complaint.pk, kind=kind, item_id=item_id,
                                    amount=Decimal(amount), reason_text="goodwill", acting_user=user)


def money_state(account: CreditAccount, installment: Installment) -> tuple:
    account.refresh_from_db()
    installment.refresh_from_db()
    return (account.fees_outstanding, installment.fee_waived, JournalEntry.objects.filter(kind="fee_waiver").count())


def assert_ledger_ok() -> None:
    violations, _counts = ledger_checks.run_all()
    assert violations == []


def test_five_waivers_of_90_on_one_fee_the_second_already_waits_for_a_supervisor(agent, supervisor):
    account, first, _second = fee_account("50000.00")
    assert first.fee == Decimal("300.00")
    complaint = working(file(account, category="fee_dispute"), agent)

    applied = waive(complaint, agent, first.pk, "90.00")
    assert applied.status == WaiverStatus.APPLIED
    after_first = money_state(account, first)
    assert after_first == (Decimal("510.00"), Decimal("90.00"), 1)  # two fees of 300.00 posted

    pending = [waive(complaint, agent, first.pk, "90.00") for _ in range(4)]

    assert [w.status for w in pending] == [WaiverStatus.PENDING] * 4
    assert all(w.journal_entry is None and w.decided_by is None for w in pending)
    assert money_state(account, first) == after_first  # nothing more waived
    totals = [e.after["waived_before"] for e in AuditEvent.objects.filter(action__startswith="waiver.")
              .order_by("id")]
    assert totals == ["0.00", "90.00", "180.00", "270.00", "360.00"]  # pending ones count too
    assert_ledger_ok()

    # a supervisor approves one: applied; the rest still wait
    waiver_approve(waiver_id=pending[0].pk, note="agreed", acting_user=supervisor)
    assert money_state(account, first) == (Decimal("420.00"), Decimal("180.00"), 2)
    assert_ledger_ok()


def test_a_pending_waiver_counts_a_rejected_one_does_not(agent, supervisor):
    account, first, _second = fee_account("20000.00")
    assert first.fee == Decimal("120.00")
    complaint = working(file(account, category="fee_dispute"), agent)
    large = waive(complaint, agent, first.pk, "95.00")
    assert large.status == WaiverStatus.APPLIED
    before = money_state(account, first)

    small = waive(complaint, agent, first.pk, "10.00")  # 95.00 + 10.00 > 100.00

    assert small.status == WaiverStatus.PENDING
    assert money_state(account, first) == before
    assert AuditEvent.objects.filter(action="waiver.requested", object_id=str(small.pk)).count() == 1

    # while the 10.00 waits, even 1.00 more needs a supervisor; once rejected it no longer counts
    assert waive(complaint, agent, first.pk, "1.00").status == WaiverStatus.PENDING
    assert money_state(account, first) == before
    waiver_reject(waiver_id=small.pk, note="not justified", acting_user=supervisor)
    assert waive(complaint, agent, first.pk, "4.00").status == WaiverStatus.APPLIED  # 95 + 1 (pending) + 4
    assert money_state(account, first)[1:] == (Decimal("99.00"), 2)
    assert_ledger_ok()


def test_up_to_100_in_total_an_agent_still_waives_at_once_per_item(agent):
    account, first, second = fee_account("20000.00")
    complaint = working(file(account, category="fee_dispute"), agent)

    assert waive(complaint, agent, first.pk, "40.00").status == WaiverStatus.APPLIED
    assert waive(complaint, agent, first.pk, "60.00").status == WaiverStatus.APPLIED  # exactly 100.00
    # another item has its own total
    assert waive(complaint, agent, second.pk, "90.00").status == WaiverStatus.APPLIED

    assert money_state(account, first) == (Decimal("50.00"), Decimal("100.00"), 3)
    second.refresh_from_db()
    assert second.fee_waived == Decimal("90.00")
    # one fen more on the first fee waits for a supervisor and changes nothing
    assert waive(complaint, agent, first.pk, "0.01").status == WaiverStatus.PENDING
    assert money_state(account, first) == (Decimal("50.00"), Decimal("100.00"), 3)
    assert_ledger_ok()


def test_waivers_on_one_item_add_up_across_complaints(agent, agent2):
    account, first, _second = fee_account("20000.00")
    one = working(file(account, category="fee_dispute"), agent)
    assert waive(one, agent, first.pk, "90.00").status == WaiverStatus.APPLIED
    other = working(file(account, category="billing_dispute"), agent2)
    before = money_state(account, first)

    assert waive(other, agent2, first.pk, "20.00").status == WaiverStatus.PENDING

    assert money_state(account, first) == before


def test_the_complaint_page_says_the_second_waiver_waits(agent):
    account, first, _second = fee_account("50000.00")
    complaint = working(file(account, category="fee_dispute"), agent)
    client = client_for(agent)
    url = reverse("admin:complaints_complaint_waiver", args=[complaint.pk])

    client.post(url, {"item": f"fee:{first.pk}", "amount": "90.00", "reason": "goodwill"}, follow=True)
    before = money_state(account, first)
    response = client.post(url, {"item": f"fee:{first.pk}", "amount": "90.00", "reason": "goodwill"})

    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Waiver of 90.00 waits for a supervisor's approval."]
    assert list(Waiver.objects.order_by("id").values_list("status", flat=True)) == ["applied", "pending"]
    assert money_state(account, first) == before
