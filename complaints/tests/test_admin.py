"""The complaints back office: the queue with its badges and filters, the supervisor view,
the complaint page with the evidence panel of each category, the actions posted from it,
closure requests by status and system closure. Refusals change nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from complaints.models import ClosureRequest, Complaint, Waiver
from complaints.services.closures import closure_request_create
from complaints.services.complaints import complaints_escalate_breaches
from installments.models import Installment, PaymentAttempt
from installments.services.fees import fees_post_due_accounts

from .helpers import buy, client_for, close_until, file, hold_new_accounts, open_account, repay, working, world

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:complaints_complaint_changelist")
SUPERVISOR = reverse("admin:complaints_complaint_supervisor")
CLOSURES = reverse("admin:complaints_closurerequest_changelist")


def page_url(complaint: Complaint) -> str:
    return reverse("admin:complaints_complaint_change", args=[complaint.pk])


def action_url(complaint: Complaint, name: str) -> str:
    return reverse(f"admin:complaints_complaint_{name}", args=[complaint.pk])


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- the queue ----------------------------------------------------------------------------------


def test_queue_orders_by_deadline_with_badges_and_filters(agent, agent2, clock):
    open_account()
    breached = file(external_id="cx-1")  # acknowledge by T+24h
    clock.shift(timedelta(hours=8))
    soon = file(external_id="cx-1", category="other")  # acknowledge by T+32h
    clock.shift(timedelta(hours=22))  # now T+30h
    fresh = file(external_id="cx-1", category="billing_dispute")
    mine = working(file(external_id="cx-1", category="auto_debit_failed"), agent)
    complaints_escalate_breaches()
    client = client_for(agent)

    response = client.get(CHANGELIST)

    assert response.status_code == 200
    rows = [c.pk for c in response.context["cl"].result_list]
    assert rows == [breached.pk, soon.pk, fresh.pk, mine.pk]
    page = response.content.decode()
    assert page.count('class="due-badge due-breached"') == 1
    assert page.count('class="due-badge due-due_soon"') == 1

    def queue(view: str) -> list[int]:
        return [c.pk for c in client.get(CHANGELIST, {"queue": view}).context["cl"].result_list]

    assert queue("mine") == [mine.pk]
    assert queue("unassigned") == [breached.pk, soon.pk, fresh.pk]
    assert queue("escalated") == [breached.pk]
    assert queue("breached") == [breached.pk]
    assert queue("due_soon") == [soon.pk]
    assert [c.pk for c in client_for(agent2).get(CHANGELIST, {"queue": "mine"}).context["cl"].result_list] == []


def test_queue_query_count_does_not_grow_with_complaints(agent):
    open_account()
    for _ in range(3):
        file(external_id="cx-1")
    client = client_for(agent)
    client.get(CHANGELIST)
    with CaptureQueriesContext(connection) as few:
        client.get(CHANGELIST)
    for _ in range(10):
        working(file(external_id="cx-1"), agent)
    with CaptureQueriesContext(connection) as many:
        client.get(CHANGELIST)
    assert len(many) == len(few) == CHANGELIST_QUERIES, [q["sql"] for q in many.captured_queries]


# session, user, staff profile, permissions (user, groups), the count, the page of complaints with
# customer and assignee (one join); the header's unread staff notifications; nothing per row
CHANGELIST_QUERIES = 8


def test_supervisor_view_of_breaches_and_workload(agent, agent2, supervisor, clock):
    open_account()
    late = working(file(external_id="cx-1"), agent)
    working(file(external_id="cx-1"), agent)
    working(file(external_id="cx-1"), agent2)
    file(external_id="cx-1")
    clock.shift(timedelta(days=16))
    complaints_escalate_breaches()
    assert client_for(agent).get(SUPERVISOR).status_code == 403

    response = client_for(supervisor).get(SUPERVISOR)

    assert response.status_code == 200
    workload = {(row.username, row.open, row.breached) for row in response.context["workload"]}
    assert workload == {("agent", 2, 2), ("agent2", 1, 1), ("", 1, 1)}
    assert late.pk in [row["complaint"].pk for row in response.context["breached"]]
    assert "Breaches and workload" in client_for(supervisor).get(CHANGELIST).content.decode()


# --- the complaint page and its evidence --------------------------------------------------------


def test_limit_not_restored_page_shows_repayments_with_restored_amount_and_holds(agent, supervisor, manager):
    account = open_account()
    buy(account)
    repay(account, "100.00", "bank-restored")
    hold_new_accounts(manager)
    repay(account, "50.00", "bank-held")
    complaint = working(file(account), agent)

    response = client_for(agent).get(page_url(complaint))

    assert response.status_code == 200
    rows = {row.repayment.reference: row for row in response.context["panel"].repayments}
    assert rows["bank-restored"].repayment.limit_restored == Decimal("100.00")
    assert rows["bank-restored"].hold is None
    assert rows["bank-held"].repayment.held_amount == Decimal("50.00")
    assert rows["bank-held"].hold.release_at is not None
    page = response.content.decode()
    assert 'id="evidence-repayments"' in page and 'data-reference="bank-restored"' in page
    assert "still held" in page
    assert "Release now" not in page  # agents may not release holds early
    supervisor_page = client_for(supervisor).get(page_url(complaint)).content.decode()
    assert "Release now" in supervisor_page


def test_auto_debit_failed_page_shows_attempts_with_gateway_outcomes(agent):
    account = open_account(card="tok_insufficient_funds")
    buy(account, amount="100.00", periods=1)
    first_due = Installment.objects.get(account=account).due_date
    close_until(first_due + timedelta(days=1))
    complaint = working(file(account, category="auto_debit_failed"), agent)

    response = client_for(agent).get(page_url(complaint))

    attempts = response.context["panel"].attempts
    assert [(a.status, a.decline_code) for a in attempts] == [
        (a.status, a.decline_code) for a in PaymentAttempt.objects.filter(account=account).order_by("-id")]
    assert attempts[0].status == "declined" and attempts[0].decline_code
    page = response.content.decode()
    assert 'id="evidence-attempts"' in page and attempts[0].decline_code in page


def test_dispute_page_shows_the_ledger_lines(agent):
    account = open_account()
    buy(account, amount="250.00", periods=1, order="o-disputed")
    complaint = working(file(account, category="unauthorized_transaction"), agent)

    response = client_for(agent).get(page_url(complaint))

    entries = response.context["panel"].ledger_entries
    assert [e.kind for e in entries] == ["purchase"]
    assert sorted(line.amount for line in entries[0].lines.all()) == [Decimal("-250.00"), Decimal("250.00")]
    page = response.content.decode()
    assert 'id="evidence-ledger"' in page and "purchase o-disputed" in page


def test_the_complaint_page_needs_the_view_permission(reviewer, agent):
    complaint = file(open_account())
    assert client_for(reviewer).get(page_url(complaint)).status_code == 403
    assert client_for(reviewer).get(CHANGELIST).status_code == 403
    assert client_for(agent).get(reverse("admin:complaints_complaint_change", args=[424242])).status_code == 302


# --- actions from the page -----------------------------------------------------------------------


def test_an_agent_works_a_complaint_from_the_page(agent):
    complaint = file(open_account())
    client = client_for(agent)
    assert "Assign to me" in client.get(page_url(complaint)).content.decode()
    assert client.get(action_url(complaint, "take")).status_code == 405  # POST only
    client.post(action_url(complaint, "take"))
    client.post(action_url(complaint, "start"))
    client.post(action_url(complaint, "reply"), {"body": "Which repayment?", "await_customer": "on"})
    complaint.refresh_from_db()
    assert complaint.status == "awaiting_customer"
    client.post(action_url(complaint, "customer_message"), {"body": "bank-1"})
    client.post(action_url(complaint, "note"), {"body": "found it"})
    response = client.post(action_url(complaint, "resolve"), {"resolution": "Your limit is back."})
    assert response.status_code == 302 and response["Location"] == page_url(complaint)
    complaint.refresh_from_db()
    assert (complaint.status, complaint.assigned_to, complaint.resolution) == ("resolved", agent,
                                                                               "Your limit is back.")
    assert complaint.messages.count() == 4  # reply, customer, note, final response


def test_refused_page_actions_show_an_error_and_change_nothing(agent, agent2):
    complaint = working(file(open_account()), agent)
    before = world()
    response = client_for(agent2).post(action_url(complaint, "resolve"), {"resolution": "mine now"})
    assert messages_of(response) == ["This complaint is assigned to another agent."]
    response = client_for(agent).post(action_url(complaint, "resolve"), {"resolution": ""})
    assert "required" in messages_of(response)[0]
    response = client_for(agent).post(action_url(complaint, "extend"), {"note": "more time"})
    assert messages_of(response) == ["Only a supervisor may extend a complaint's deadline."]
    assert world() == before


def test_waiver_above_100_through_the_page_needs_the_supervisor(agent, supervisor):
    account = open_account(limit="20000.00")
    buy(account, amount="20000.00", periods=3)
    first = Installment.objects.filter(account=account).order_by("seq").first()
    fees_post_due_accounts(account_ids=[account.pk], business_date=first.due_date)
    complaint = working(file(account, category="fee_dispute"), agent)
    page = client_for(agent).get(page_url(complaint)).content.decode()
    assert f'value="fee:{first.pk}"' in page

    response = client_for(agent).post(action_url(complaint, "waiver"),
                                      {"item": f"fee:{first.pk}", "amount": "120.00", "reason": "misinformed"})
    assert messages_of(response) == ["Waiver of 120.00 waits for a supervisor's approval."]
    waiver = Waiver.objects.get()
    approve = reverse("admin:complaints_complaint_waiver_approve", args=[waiver.pk])
    before = world()
    response = client_for(agent).post(approve)
    assert messages_of(response) == ["Only a supervisor may approve waivers above 100.00."]
    assert world() == before
    assert "Approve" in client_for(supervisor).get(page_url(complaint)).content.decode()

    response = client_for(supervisor).post(approve)

    assert messages_of(response) == ["Waiver of 120.00 approved and applied."]
    waiver.refresh_from_db()
    account.refresh_from_db()
    assert (waiver.status, account.fees_outstanding) == ("applied", Decimal("0.00"))


def test_an_agent_files_a_complaint_taken_by_phone(agent, reviewer):
    open_account()
    url = reverse("admin:complaints_complaint_file")
    assert client_for(reviewer).get(url).status_code == 403
    assert client_for(agent).get(url).status_code == 200
    response = client_for(agent).post(url, {"customer_external_id": "cx-1", "category": "other", "channel": "phone",
                                            "description": "Called about a rude collector."})
    complaint = Complaint.objects.get()
    assert response["Location"] == page_url(complaint)
    assert (complaint.channel, complaint.created_by) == ("phone", agent)
    response = client_for(agent).post(url, {"customer_external_id": "ghost", "category": "other", "channel": "phone",
                                            "description": "x"})
    assert response.status_code == 200
    assert messages_of(response) == ["There is no customer with this store customer id."]
    assert Complaint.objects.count() == 1


# --- closure requests ----------------------------------------------------------------------------


def test_closure_requests_by_status_and_their_page(agent):
    owing = open_account(1)
    buy(owing)
    waiting = closure_request_create(account_id=owing.pk, channel="app")
    clear = open_account(2)
    review = closure_request_create(account_id=clear.pk, channel="phone")
    client = client_for(agent)
    listing = client.get(CLOSURES, {"status__exact": "awaiting_payoff"})
    assert [r.pk for r in listing.context["cl"].result_list] == [waiting.pk]
    page = client.get(reverse("admin:complaints_closurerequest_change", args=[review.pk]))
    assert page.status_code == 200 and "Verify identity" in page.content.decode()

    client.post(reverse("admin:complaints_closurerequest_verify_identity", args=[review.pk]),
                {"method": "video call with ID card"})

    review.refresh_from_db()
    clear.refresh_from_db()
    assert (review.status, clear.status) == ("approved", "closed")
    assert "System closure" not in client.get(CLOSURES).content.decode()
    assert client.get(reverse("admin:complaints_closurerequest_system_closure")).status_code == 403


def test_system_closure_page_for_risk_managers(manager):
    account = open_account()
    url = reverse("admin:complaints_closurerequest_system_closure")
    client = client_for(manager)
    assert "System closure" in client.get(CLOSURES).content.decode()
    before = world()
    response = client.post(url, {"account_id": account.pk, "reason_code": "BREACH_OF_TERMS", "note": ""})
    assert response.status_code == 200
    assert world() == before
    response = client.post(url, {"account_id": account.pk, "reason_code": "BREACH_OF_TERMS",
                                 "note": "reselling goods bought on credit"})
    closure = ClosureRequest.objects.get()
    assert response["Location"] == reverse("admin:complaints_closurerequest_change", args=[closure.pk])
    account.refresh_from_db()
    assert (account.status, account.closed_reason) == ("closed", "BREACH_OF_TERMS")


def test_complaint_page_query_count_does_not_grow_with_the_evidence(agent):
    account = open_account(limit="5000.00")
    buy(account, amount="1000.00", periods=3, order="o-0")
    repay(account, "10.00", "r-0")
    complaint = working(file(account), agent)
    dispute = working(file(account, category="billing_dispute"), agent)
    client = client_for(agent)
    client.get(page_url(complaint))

    def queries(target: Complaint) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(page_url(target)).status_code == 200
        return len(captured)

    few = (queries(complaint), queries(dispute))
    for n in range(1, 8):
        buy(account, amount="10.00", periods=1, order=f"o-{n}")
        repay(account, "10.00", f"r-{n}")
    assert (queries(complaint), queries(dispute)) == few
