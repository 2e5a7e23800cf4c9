"""The review case page and its decisions (docs/rules.md §3): approve, high-limit proposal and
confirmation, reject, escalate, release; who may decide; refusals change nothing."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, CreditAccount
from risk.models import Application, ReviewCase, ReviewStatus

from .review_helpers import (
    CHANGELIST,
    CLAIM_NEXT,
    applicant,
    case_url,
    client_for,
    id_number,
    message_texts,
    review_case,
    shared_phone_case,
    snapshot,
    staff,
    submit,
)

pytestmark = pytest.mark.django_db


# --- the case page ------------------------------------------------------------------------


def test_case_page_shows_application_breakdown_and_earlier_applications(reviewer):
    earlier = submit(applicant(1, orders_12m=1, spend_12m=Decimal("300.00"), return_rate=Decimal("0.20"),
                               store_since=date(2026, 10, 1)))
    assert earlier.status == "rejected"  # 300 + 0 + 0 + 0 + 0 + 30 = 330
    case = review_case(1)
    assert case.application.score == 560
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)
    ReviewCase.objects.filter(pk=case.pk).update(last_activity_at=timezone.now() - timedelta(minutes=10))

    response = client.get(case_url(case))

    assert response.status_code == 200
    page = response.content.decode()
    breakdown = response.context["breakdown"]
    assert [(row["value"], row["points"]) for row in breakdown] == [
        ("", 300), ("82", 120), ("5", 40), ("3000.00", 40), ("0.1000", 30), ("none", 30)]
    assert 'id="score-breakdown"' in page
    assert "Months since store customer" in page
    assert "BORDERLINE_SCORE" in page
    # masked personal data only
    assert "110***********" + id_number(1)[-4:] in page
    assert "139****0001" in page
    assert id_number(1) not in page
    assert "13900000001" not in page
    # the earlier application with its status and reason
    rows = response.context["earlier_applications"]
    assert [row["application"].pk for row in rows] == [earlier.pk]
    assert "SCORE_BELOW_THRESHOLD" in page
    assert "v1" in page
    # the claimer sees the forms, prefilled with the scorecard limit; opening the page is activity
    assert response.context["show_decision_forms"] is True
    assert response.context["approve_form"].initial["credit_limit"] == Decimal("2000.00")
    for action in ("approve", "reject", "escalate", "release"):
        assert case_url(case, action) in page
    case.refresh_from_db()
    assert timezone.now() - case.last_activity_at < timedelta(minutes=1)


def test_case_page_for_another_reviewer_has_no_forms_and_no_touch(reviewer, reviewer2):
    case = review_case(1)
    client_for(reviewer).post(CLAIM_NEXT)
    case.refresh_from_db()
    activity = case.last_activity_at

    response = client_for(reviewer2).get(case_url(case))

    assert response.status_code == 200
    assert response.context["show_decision_forms"] is False
    assert case_url(case, "approve") not in response.content.decode()
    assert "Claimed by reviewer" in response.content.decode()
    case.refresh_from_db()
    assert case.last_activity_at == activity


def test_case_page_refuses_post(reviewer):
    case = review_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)
    before = snapshot(case)
    assert client.post(case_url(case), {"status": "decided"}).status_code == 405
    assert snapshot(case) == before


# --- decisions -----------------------------------------------------------------------------


def test_approve_opens_the_credit_account(reviewer):
    case = review_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)

    response = client.post(case_url(case, "approve"), {"credit_limit": "2000.00", "note": "looks fine"})

    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    assert message_texts(response) == [
        f"Case #{case.pk} approved with a limit of 2000.00; the credit account is open."]
    case.refresh_from_db()
    assert case.status == ReviewStatus.DECIDED
    assert case.decision == "approved"
    assert case.decided_by == reviewer
    application = Application.objects.get(pk=case.application_id)
    assert application.status == "approved"
    assert application.credit_limit == Decimal("2000.00")
    assert application.decided_by == reviewer
    account = CreditAccount.objects.get(customer__external_id="c-1")
    assert application.account == account
    assert account.status == "active"
    assert account.credit_limit == Decimal("2000.00")
    assert account.available_limit == Decimal("2000.00")
    assert AuditEvent.objects.filter(action="review_case.approved", object_id=str(case.pk)).count() == 1
    # decided cases leave the default queue
    assert client.get(CHANGELIST).context["cl"].result_count == 0


def test_reviewer_above_20000_proposes_and_a_risk_manager_confirms(reviewer, reviewer2, manager):
    case = shared_phone_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)

    response = client.post(case_url(case, "approve"), {"credit_limit": "25000.00", "note": "long history"})

    assert response["Location"] == CHANGELIST
    assert message_texts(response) == [
        f"Case #{case.pk}: limit 25000.00 proposed; a risk manager must confirm it."]
    case.refresh_from_db()
    assert case.status == ReviewStatus.AWAITING_CONFIRMATION
    assert case.proposed_limit == Decimal("25000.00")
    assert case.proposed_by == reviewer
    assert case.claimed_by is None
    assert Application.objects.get(pk=case.application_id).status == "in_review"
    assert not CreditAccount.objects.filter(customer__external_id="c-1").exists()
    # another reviewer cannot take it; a risk manager can
    assert message_texts(client_for(reviewer2).post(CLAIM_NEXT)) == ["Queue is empty"]
    page = client_for(manager).get(case_url(case)).content.decode()
    assert "25000.00" in page
    assert "proposed by reviewer" in page

    manager_client = client_for(manager)
    assert manager_client.post(CLAIM_NEXT)["Location"] == case_url(case)
    response = manager_client.get(case_url(case))
    assert response.context["show_decision_forms"] is True
    assert response.context["approve_form"].initial["credit_limit"] == Decimal("25000.00")
    response = manager_client.post(case_url(case, "approve"), {"credit_limit": "25000.00", "note": "confirmed"})

    assert response["Location"] == CHANGELIST
    case.refresh_from_db()
    assert case.status == ReviewStatus.DECIDED
    assert case.decided_by == manager
    account = CreditAccount.objects.get(customer__external_id="c-1")
    assert account.credit_limit == Decimal("25000.00")
    assert Application.objects.get(pk=case.application_id).status == "approved"


def test_approve_above_the_policy_maximum_is_refused_and_nothing_changes(reviewer):
    case = review_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)
    before = snapshot(case)

    response = client.post(case_url(case, "approve"), {"credit_limit": "30100.00", "note": ""})

    assert response["Location"] == case_url(case)
    assert message_texts(response) == ["The limit may not exceed the policy maximum of 30000."]
    assert snapshot(case) == before


def test_reject_without_a_note_is_refused_and_nothing_changes(reviewer):
    case = review_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)
    before = snapshot(case)

    response = client.post(case_url(case, "reject"), {"reason_code": "REVIEW_REJECTED_AFFORDABILITY",
                                                      "note": "   "})

    assert response.status_code == 302
    assert response["Location"] == case_url(case)
    assert message_texts(response) == ["A rejection needs a reason code and a note."]
    assert snapshot(case) == before
    assert not AuditEvent.objects.filter(action="review_case.rejected").exists()

    response = client.post(case_url(case, "reject"), {"reason_code": "REVIEW_REJECTED_AFFORDABILITY",
                                                      "note": "income too low"})
    assert response["Location"] == CHANGELIST
    case.refresh_from_db()
    assert case.status == ReviewStatus.DECIDED
    assert case.decision == "rejected"
    assert case.decision_reason_code == "REVIEW_REJECTED_AFFORDABILITY"
    application = Application.objects.get(pk=case.application_id)
    assert application.status == "rejected"
    assert [r["code"] for r in application.reasons] == ["REVIEW_REJECTED_AFFORDABILITY"]
    assert not CreditAccount.objects.exists()


def test_reject_with_an_unknown_reason_code_is_refused(reviewer):
    case = review_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)
    before = snapshot(case)
    response = client.post(case_url(case, "reject"), {"reason_code": "BECAUSE", "note": "x"})
    assert response["Location"] == case_url(case)
    assert len(message_texts(response)) == 1
    assert snapshot(case) == before


def test_escalate_hands_the_case_to_risk_managers(reviewer, reviewer2, manager):
    case = review_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)

    refused = client.post(case_url(case, "escalate"), {"note": ""})
    assert refused["Location"] == case_url(case)
    assert message_texts(refused) == ["Say why you escalate."]
    response = client.post(case_url(case, "escalate"), {"note": "possible identity fraud"})

    assert response["Location"] == CHANGELIST
    case.refresh_from_db()
    assert case.status == ReviewStatus.ESCALATED
    assert case.escalated is True
    assert case.escalation_note == "possible identity fraud"
    assert case.claimed_by is None
    assert AuditEvent.objects.filter(action="review_case.escalated", object_id=str(case.pk)).count() == 1
    assert message_texts(client_for(reviewer2).post(CLAIM_NEXT)) == ["Queue is empty"]
    assert client_for(manager).post(CLAIM_NEXT)["Location"] == case_url(case)


def test_release_returns_the_case_to_the_queue(reviewer, reviewer2):
    case = review_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)

    response = client.post(case_url(case, "release"))

    assert response["Location"] == CHANGELIST
    case.refresh_from_db()
    assert case.status == ReviewStatus.OPEN
    assert case.claimed_by is None
    assert client_for(reviewer2).post(CLAIM_NEXT)["Location"] == case_url(case)


def test_decision_urls_are_post_only(reviewer):
    case = review_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)
    for action in ("approve", "reject", "escalate", "release"):
        assert client.get(case_url(case, action)).status_code == 405


# --- permissions ---------------------------------------------------------------------------


def test_cs_agent_views_the_queue_but_cannot_decide(reviewer, agent):
    case = review_case(1)
    client_for(reviewer).post(CLAIM_NEXT)
    other = review_case(2)
    client = client_for(agent)

    listing = client.get(CHANGELIST)
    assert listing.status_code == 200
    assert [c.pk for c in listing.context["cl"].result_list] == [case.pk, other.pk]
    assert "Claim next case" not in listing.content.decode()
    page = client.get(case_url(case))
    assert page.status_code == 200
    assert page.context["show_decision_forms"] is False
    assert case_url(case, "approve") not in page.content.decode()

    before, before_other = snapshot(case), snapshot(other)
    assert client.post(case_url(case, "approve"), {"credit_limit": "2000.00", "note": ""}).status_code == 403
    assert client.post(case_url(case, "reject"), {"reason_code": "REVIEW_REJECTED_POLICY",
                                                  "note": "x"}).status_code == 403
    assert client.post(case_url(case, "escalate"), {"note": "x"}).status_code == 403
    assert client.post(case_url(case, "release")).status_code == 403
    assert client.post(CLAIM_NEXT).status_code == 403
    assert snapshot(case) == before
    assert snapshot(other) == before_other


def test_staff_without_queue_permission_cannot_open_it():
    case = review_case(1)
    ops = client_for(staff("ops", "Operations"))
    assert ops.get(CHANGELIST).status_code == 403
    assert ops.get(case_url(case)).status_code == 403
    assert ops.post(CLAIM_NEXT).status_code == 403


def test_no_add_or_delete_on_review_cases(reviewer, manager):
    case = review_case(1)
    for user in (reviewer, manager):
        client = client_for(user)
        assert client.get(reverse("admin:risk_reviewcase_add")).status_code == 403
        assert client.get(reverse("admin:risk_reviewcase_delete", args=[case.pk])).status_code == 403
    assert ReviewCase.objects.filter(pk=case.pk).exists()
