"""Review at speed (decision 0032): decide-and-claim-next, the reviewer's figures of the day,
the risk manager's inbox and its notifications, bulk release and reassignment of claimed cases;
the queue page's and the inbox view's pinned query counts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import clock
from accounts.models import AuditEvent, StaffNotification
from risk.models import Application, ReviewCase, ReviewStatus
from risk.selectors import manager_inbox_figures, reviewer_day_figures
from risk.services.review_queue import (
    review_case_approve,
    review_case_approve_and_claim_next,
    review_case_claim_next,
    review_case_escalate,
    review_case_reject_and_claim_next,
    review_cases_reassign,
)

from .review_helpers import CHANGELIST, case_url, client_for, message_texts, review_case, shared_phone_case, snapshot


def claimed(reviewer, expected: ReviewCase) -> ReviewCase:
    case = review_case_claim_next(acting_user=reviewer)
    assert case is not None and case.pk == expected.pk
    return case


def test_approve_and_next_decides_then_claims_the_next_case(reviewer):
    first, second = review_case(1), review_case(2)
    claimed(reviewer, first)
    decided, following = review_case_approve_and_claim_next(case_id=first.pk, credit_limit=Decimal("2000"),
                                                            note="ok", acting_user=reviewer)
    assert decided.status == ReviewStatus.DECIDED and Application.objects.get(pk=first.application_id).status == \
        "approved"
    assert following is not None and following.pk == second.pk
    second.refresh_from_db()
    assert second.status == ReviewStatus.CLAIMED and second.claimed_by_id == reviewer.pk
    decided, following = review_case_reject_and_claim_next(case_id=second.pk, reason_code="REVIEW_REJECTED_POLICY",
                                                           note="no", acting_user=reviewer)
    assert decided.decision == "rejected" and following is None


def test_a_refused_decision_claims_nothing(reviewer):
    first, second = review_case(1), review_case(2)
    claimed(reviewer, first)
    before = (snapshot(first), snapshot(second))
    with pytest.raises(Exception) as refused:
        review_case_approve_and_claim_next(case_id=first.pk, credit_limit=Decimal("2050"), note="",
                                           acting_user=reviewer)
    assert getattr(refused.value, "code", "") == "invalid_request"
    assert (snapshot(first), snapshot(second)) == before


def test_approve_and_next_in_the_admin_lands_on_the_next_case_or_the_queue(reviewer):
    first, second = review_case(1), review_case(2)
    client = client_for(reviewer)
    claimed(reviewer, first)
    response = client.post(case_url(first, "approve"), {"credit_limit": "2000", "note": "", "and_next": "1"})
    assert response.status_code == 302 and response["Location"] == case_url(second)
    response = client.post(case_url(second, "reject"), {"reason_code": "REVIEW_REJECTED_POLICY", "note": "n",
                                                        "and_next": "1"})
    assert response["Location"] == CHANGELIST
    assert "No more cases for you in the queue." in message_texts(response)
    assert [c.decision for c in ReviewCase.objects.order_by("pk")] == ["approved", "rejected"]


def test_the_case_page_offers_shortcuts_and_the_deadline_clock(reviewer):
    case = review_case(1)
    claimed(reviewer, case)
    page = client_for(reviewer).get(case_url(case)).content.decode()
    for marker in ('data-shortcut="a"', 'data-shortcut="r"', 'data-shortcut="e"', 'data-shortcut="n"',
                   'id="shortcut-help"', "risk/review_shortcuts.js", "accounts/deadline_clock.js",
                   'class="deadline-clock deadline-normal"', 'name="and_next"'):
        assert marker in page, marker
    # Enter in the limit field submits with the form's first button: "Approve & next"
    approve_form = page.split('action="' + case_url(case, "approve") + '"')[1].split("</form>")[0]
    assert approve_form.index('name="and_next"') < approve_form.index('name="approve"')


def test_reviewer_figures_of_today(reviewer, reviewer2):
    cases = [review_case(n) for n in range(1, 5)]
    now = clock.now()
    for case, minutes in zip(cases[:3], (2, 4, 12), strict=True):
        claimed(reviewer, case)
        review_case_approve(case_id=case.pk, credit_limit=Decimal("2000"), note="", acting_user=reviewer)
        ReviewCase.objects.filter(pk=case.pk).update(claimed_at=now - timedelta(minutes=minutes), decided_at=now)
    claimed(reviewer2, cases[3])
    review_case_approve(case_id=cases[3].pk, credit_limit=Decimal("2000"), note="", acting_user=reviewer2)
    local_midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    ReviewCase.objects.filter(pk=cases[2].pk).update(decided_at=local_midnight - timedelta(seconds=1),
                                                     claimed_at=local_midnight - timedelta(minutes=12))
    assert reviewer_day_figures(reviewer, now=now) == {"decided": 2, "median": timedelta(minutes=3),
                                                      "average": timedelta(minutes=3)}
    assert reviewer_day_figures(reviewer2, now=now)["decided"] == 1
    page = client_for(reviewer).get(CHANGELIST).content.decode()
    assert 'id="my-day-decided">2<' in page and 'id="my-day-median">3 min 0 s<' in page


def _queue_queries(client, url=CHANGELIST) -> int:
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


# session, user, staff profile, user + group permissions, the reviewer's figures, count, rows, the
# header's unread staff notifications
QUEUE_QUERIES = 9
# as above, plus the action bar's list of assignees (a risk manager's page)
MANAGER_QUEUE_QUERIES = 10


def test_queue_and_manager_inbox_query_counts_do_not_grow(reviewer, manager, manager2):
    reviewer_client, manager_client = client_for(reviewer), client_for(manager)
    inbox = CHANGELIST + "?queue=awaiting_manager"
    for n in range(1, 4):
        case = review_case(n)
        claimed(reviewer, case)
        review_case_escalate(case_id=case.pk, note="look", acting_user=reviewer)
    few = (_queue_queries(reviewer_client), _queue_queries(manager_client, inbox))
    for n in range(4, 34):
        case = review_case(n)
        claimed(reviewer, case)
        review_case_escalate(case_id=case.pk, note="look", acting_user=reviewer)
    many = (_queue_queries(reviewer_client), _queue_queries(manager_client, inbox))
    assert few == many == (QUEUE_QUERIES, MANAGER_QUEUE_QUERIES)
    assert len(manager_client.get(inbox).context["cl"].result_list) == 33


def test_escalations_and_proposals_notify_the_risk_managers_and_fill_their_inbox(reviewer, manager, manager2):
    escalated = review_case(1)
    claimed(reviewer, escalated)
    review_case_escalate(case_id=escalated.pk, note="odd store history", acting_user=reviewer)
    notes = StaffNotification.objects.filter(kind="review_case.escalated").order_by("recipient_id")
    assert [n.recipient_id for n in notes] == [manager.pk, manager2.pk]
    assert notes[0].link == case_url(escalated) and f"#{escalated.pk}" in notes[0].message
    assert "odd store history" in notes[0].message

    proposal = shared_phone_case(2)
    claimed_proposal = review_case_claim_next(acting_user=reviewer)
    assert claimed_proposal is not None and claimed_proposal.pk == proposal.pk
    review_case_approve(case_id=proposal.pk, credit_limit=Decimal("25000"), note="", acting_user=reviewer)
    proposed = StaffNotification.objects.filter(kind="review_case.high_limit_proposed")
    assert sorted(n.recipient_id for n in proposed) == [manager.pk, manager2.pk]
    assert manager_inbox_figures(manager2) == {"escalated": 1, "proposals": 1}


def test_a_managers_own_proposal_is_not_in_their_inbox_and_they_are_not_notified(manager, manager2):
    proposal = shared_phone_case(1)
    claimed(manager, proposal)
    review_case_approve(case_id=proposal.pk, credit_limit=Decimal("25000"), note="", acting_user=manager)
    assert manager_inbox_figures(manager) == {"escalated": 0, "proposals": 0}
    assert manager_inbox_figures(manager2) == {"escalated": 0, "proposals": 1}
    assert [n.recipient_id for n in StaffNotification.objects.all()] == [manager2.pk]
    rows = client_for(manager).get(CHANGELIST + "?queue=awaiting_manager").context["cl"].result_list
    assert list(rows) == []


def test_managers_release_and_reassign_claimed_cases_refusing_the_others(reviewer, reviewer2, manager):
    held, other, waiting = review_case(1), review_case(2), review_case(3)
    claimed(reviewer, held)
    claimed(reviewer2, other)
    before_waiting = snapshot(waiting)
    result = review_cases_reassign(case_ids=[held.pk, waiting.pk], assignee=reviewer2, acting_user=manager)
    assert result.changed == [held.pk] and list(result.refused) == [waiting.pk]
    assert snapshot(waiting) == (*before_waiting[:-1], before_waiting[-1] + 1)  # one audit row: the reassignment
    held.refresh_from_db()
    assert held.claimed_by_id == reviewer2.pk and held.status == ReviewStatus.CLAIMED
    assert AuditEvent.objects.filter(action="review_case.reassigned", object_id=str(held.pk)).count() == 1
    assert StaffNotification.objects.filter(recipient=reviewer2, kind="review_case.assigned").count() == 1
    result = review_cases_reassign(case_ids=[other.pk], assignee=None, acting_user=manager)
    other.refresh_from_db()
    assert result.changed == [other.pk] and other.status == ReviewStatus.OPEN and other.claimed_by_id is None


def test_reassignment_refusals_change_nothing(reviewer, reviewer2, manager, agent):
    case, escalated = review_case(1), review_case(2)
    claimed(reviewer, case)
    claimed(reviewer2, escalated)
    review_case_escalate(case_id=escalated.pk, note="n", acting_user=reviewer2)
    claimed(manager, escalated)
    before = (snapshot(case), snapshot(escalated))
    with pytest.raises(Exception) as refused:
        review_cases_reassign(case_ids=[case.pk], assignee=reviewer2, acting_user=reviewer)
    assert getattr(refused.value, "code", "") == "permission_denied"
    assert review_cases_reassign(case_ids=[case.pk], assignee=agent, acting_user=manager).changed == []
    assert review_cases_reassign(case_ids=[escalated.pk], assignee=reviewer2, acting_user=manager).changed == []
    assert review_cases_reassign(case_ids=[999999], assignee=reviewer2, acting_user=manager).refused
    assert (snapshot(case), snapshot(escalated)) == before
    assert StaffNotification.objects.filter(kind="review_case.assigned").count() == 0


def test_bulk_actions_in_the_admin_are_for_managers_only(reviewer, reviewer2, manager):
    case = review_case(1)
    claimed(reviewer, case)
    data = {"action": "assign_claims", "_selected_action": [case.pk], "assignee": reviewer2.pk}
    client_for(reviewer).post(CHANGELIST, data)
    case.refresh_from_db()
    assert case.claimed_by_id == reviewer.pk  # a reviewer has no actions: nothing changed
    response = client_for(manager).post(CHANGELIST, {**data, "assignee": "not-a-user"})
    case.refresh_from_db()
    assert response.status_code == 302 and case.claimed_by_id == reviewer.pk
    response = client_for(manager).post(CHANGELIST, data)
    case.refresh_from_db()
    assert case.claimed_by_id == reviewer2.pk
    response = client_for(manager).post(CHANGELIST, {"action": "release_claims", "_selected_action": [case.pk]})
    case.refresh_from_db()
    assert case.status == ReviewStatus.OPEN and case.claimed_by_id is None


def test_the_dashboard_counts_what_waits_for_the_manager(reviewer, manager):
    case = review_case(1)
    claimed(reviewer, case)
    review_case_escalate(case_id=case.pk, note="n", acting_user=reviewer)
    html = client_for(manager).get(reverse("admin:index")).content.decode()
    assert 'id="manager-inbox-escalated">1<' in html and 'id="manager-inbox-proposals">0<' in html
    assert 'id="widget-manager-inbox"' not in client_for(reviewer).get(reverse("admin:index")).content.decode()
