"""Four eyes in risk (docs/rules.md §3.7, §3.8): a scoring policy is activated by a risk manager
who neither created nor edited the draft, and its values stay within the policy bounds; every
approval above the high-limit threshold (20,000) is a proposal that a risk manager other than the
proposer confirms. Each refusal changes nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts import clock
from accounts.errors import PermissionRefused, ValidationFailed
from accounts.models import AuditEvent, CreditAccount
from risk.models import Application, PolicyStatus, ReviewCase, ReviewStatus, ScoringPolicy
from risk.services.policies import policy_activate, policy_draft_create, policy_draft_update
from risk.services.review_queue import review_case_approve, review_case_claim_next, review_case_reject

from .review_helpers import (
    CHANGELIST,
    CLAIM_NEXT,
    case_url,
    client_for,
    message_texts,
    shared_phone_case,
    snapshot,
    staff,
)

pytestmark = pytest.mark.django_db

FOUR_EYES = "You created or edited this draft: another risk manager must activate it."


def policies_world() -> tuple:
    """Every row activating or editing a policy could touch."""
    return (list(ScoringPolicy.objects.values().order_by("pk")),
            list(ScoringPolicy.authors.through.objects.values().order_by("pk")),
            AuditEvent.objects.count())


def authors(policy: ScoringPolicy) -> set[str]:
    return set(policy.authors.values_list("username", flat=True))


# --- policies: the author does not activate ------------------------------------------------


def test_the_creator_of_a_draft_cannot_activate_it_and_nothing_changes(manager, manager2):
    draft = policy_draft_create(acting_user=manager, notes="v2")
    assert authors(draft) == {"manager"}
    before = policies_world()

    with pytest.raises(PermissionRefused) as refused:
        policy_activate(policy_id=draft.pk, acting_user=manager, reason_text="Q4 review")

    assert refused.value.code == "four_eyes" and refused.value.status_code == 403
    assert refused.value.message == FOUR_EYES
    assert policies_world() == before
    assert ScoringPolicy.objects.get(status=PolicyStatus.ACTIVE).version == 1

    policy_activate(policy_id=draft.pk, acting_user=manager2, reason_text="Q4 review")
    draft.refresh_from_db()
    assert (draft.status, draft.activated_by) == (PolicyStatus.ACTIVE, manager2)


def test_whoever_edits_a_draft_becomes_an_author(manager, manager2):
    manager3 = staff("manager3", "Risk manager")
    draft = policy_draft_create(acting_user=manager)
    policy_draft_update(policy_id=draft.pk, params=dict(draft.params, grace_days=5), notes="grace 5",
                        acting_user=manager2)
    policy_draft_update(policy_id=draft.pk, params=dict(draft.params, grace_days=4), notes="grace 4",
                        acting_user=manager2)
    assert authors(draft) == {"manager", "manager2"}
    before = policies_world()

    for author in (manager, manager2):
        with pytest.raises(PermissionRefused) as refused:
            policy_activate(policy_id=draft.pk, acting_user=author, reason_text="grace 4")
        assert refused.value.code == "four_eyes"
    assert policies_world() == before

    policy_activate(policy_id=draft.pk, acting_user=manager3, reason_text="grace 4")
    draft.refresh_from_db()
    assert draft.status == PolicyStatus.ACTIVE and draft.parsed.grace_days == 4
    event = AuditEvent.objects.get(action="policy.activated")
    assert event.after == {"active_version": 2, "authors": sorted([manager.pk, manager2.pk])}


def test_created_by_counts_as_an_author_and_a_superuser_is_no_exception(manager):
    """A draft from before ``authors`` existed has only ``created_by``; it still counts."""
    root = staff("root", None, superuser=True)
    older = ScoringPolicy.objects.create(version=2, params=ScoringPolicy.objects.get(version=1).params,
                                         created_by=root)
    assert authors(older) == set()
    before = policies_world()
    with pytest.raises(PermissionRefused) as refused:
        policy_activate(policy_id=older.pk, acting_user=root, reason_text="mine")
    assert refused.value.code == "four_eyes"
    assert policies_world() == before

    policy_activate(policy_id=older.pk, acting_user=manager, reason_text="reviewed")
    older.refresh_from_db()
    assert older.status == PolicyStatus.ACTIVE


def test_the_policy_page_shows_the_authors_and_offers_activation_only_to_others(manager, manager2):
    draft = policy_draft_create(acting_user=manager)
    policy_draft_update(policy_id=draft.pk, params=dict(draft.params, grace_days=5), notes="", acting_user=manager2)
    change_url = reverse("admin:risk_scoringpolicy_change", args=[draft.pk])
    activate_url = reverse("admin:risk_scoringpolicy_activate", args=[draft.pk])
    manager3 = staff("manager3", "Risk manager")

    author_page = client_for(manager).get(change_url)
    assert author_page.status_code == 200
    assert author_page.context["can_activate"] is False
    page = author_page.content.decode()
    assert "manager, manager2" in page
    assert 'id="activate-policy"' not in page
    assert message_texts(author_page) == [FOUR_EYES]

    # posting anyway (a stale page): the refusal as a message, nothing changed, no error page
    before = policies_world()
    response = client_for(manager2).post(activate_url, {"reason": "grace 5"})
    assert response.status_code == 302 and response["Location"] == change_url
    assert message_texts(response) == [FOUR_EYES]
    assert policies_world() == before

    other_page = client_for(manager3).get(change_url)
    assert other_page.context["can_activate"] is True
    assert 'id="activate-policy"' in other_page.content.decode()
    assert "manager, manager2" in other_page.content.decode()
    assert message_texts(other_page) == []
    response = client_for(manager3).post(activate_url, {"reason": "grace 5"})
    assert message_texts(response) == ["Policy v2 is now active."]
    draft.refresh_from_db()
    assert draft.status == PolicyStatus.ACTIVE


# --- policies: values within bounds -------------------------------------------------------


def test_a_draft_out_of_bounds_is_refused_by_the_service_and_nothing_is_saved(manager, manager2):
    draft = policy_draft_create(acting_user=manager)
    before = policies_world()

    with pytest.raises(ValidationFailed) as refused:
        policy_draft_update(policy_id=draft.pk, params=dict(draft.params, penalty_daily_rate="0.05"),
                            notes="typo", acting_user=manager2)

    assert "penalty_daily_rate must be between 0 and 0.001 (got 0.05)" in refused.value.message
    assert refused.value.details == {"params": ["penalty_daily_rate must be between 0 and 0.001 (got 0.05)"]}
    assert policies_world() == before  # params unchanged, manager2 not an author
    # malformed values are refused alike, never an unexpected error
    for params in ([1, 2], dict(draft.params, term_fee_rates=[1]), dict(draft.params, grace_days={"a": 1})):
        with pytest.raises(ValidationFailed):
            policy_draft_update(policy_id=draft.pk, params=params, notes="", acting_user=manager2)
    assert policies_world() == before


def test_a_draft_out_of_bounds_is_a_form_error_in_the_admin(manager):
    draft = policy_draft_create(acting_user=manager)
    change_url = reverse("admin:risk_scoringpolicy_change", args=[draft.pk])
    before = policies_world()

    response = client_for(manager).post(change_url, {
        "params_text": json.dumps(dict(draft.params, penalty_daily_rate="0.05")), "notes": "typo"})

    assert response.status_code == 200
    assert "penalty_daily_rate must be between 0 and 0.001 (got 0.05)" in response.content.decode()
    assert policies_world() == before
    draft.refresh_from_db()
    assert draft.params["penalty_daily_rate"] == "0.0005"


# --- approvals above 20,000: a proposal, confirmed by another risk manager ---------------


def test_a_risk_manager_above_20000_only_proposes_another_confirms(manager, manager2):
    case = shared_phone_case(1)
    client = client_for(manager)
    assert client.post(CLAIM_NEXT)["Location"] == case_url(case)

    response = client.post(case_url(case, "approve"), {"credit_limit": "30000.00", "note": "long history"})

    assert response["Location"] == CHANGELIST
    assert message_texts(response) == [
        f"Case #{case.pk}: limit 30000.00 proposed; another risk manager must confirm it."]
    case.refresh_from_db()
    assert (case.status, case.proposed_limit, case.proposed_by, case.claimed_by) == (
        ReviewStatus.AWAITING_CONFIRMATION, Decimal("30000.00"), manager, None)
    assert Application.objects.get(pk=case.application_id).status == "in_review"
    assert not CreditAccount.objects.filter(customer__external_id="c-1").exists()
    assert AuditEvent.objects.filter(action="review_case.high_limit_proposed", actor=manager).count() == 1
    # the proposer does not get their own proposal back from the queue
    assert message_texts(client.post(CLAIM_NEXT))[-1] == "Queue is empty"

    other = client_for(manager2)
    assert other.post(CLAIM_NEXT)["Location"] == case_url(case)
    response = other.post(case_url(case, "approve"), {"credit_limit": "30000.00", "note": "confirmed"})

    assert message_texts(response) == [
        f"Case #{case.pk} approved with a limit of 30000.00; the credit account is open."]
    case.refresh_from_db()
    assert (case.status, case.decided_by, case.proposed_by) == (ReviewStatus.DECIDED, manager2, manager)
    assert CreditAccount.objects.get(customer__external_id="c-1").credit_limit == Decimal("30000.00")


def test_the_proposer_confirming_their_own_proposal_is_refused_and_nothing_changes(manager, manager2):
    case = shared_phone_case(1)
    review_case_claim_next(acting_user=manager)
    review_case_approve(case_id=case.pk, credit_limit=Decimal("25000.00"), note="", acting_user=manager)
    assert review_case_claim_next(acting_user=manager) is None
    # a claim the proposer still holds (e.g. taken before the queue excluded it)
    ReviewCase.objects.filter(pk=case.pk).update(status=ReviewStatus.CLAIMED, claimed_by=manager,
                                                 claimed_at=clock.now(), last_activity_at=clock.now())
    before = snapshot(case)

    for limit in ("25000.00", "22000.00", "30000.00"):
        with pytest.raises(PermissionRefused) as refused:
            review_case_approve(case_id=case.pk, credit_limit=Decimal(limit), note="mine", acting_user=manager)
        assert refused.value.code == "four_eyes"
        assert refused.value.message == "A second risk manager must confirm a limit you proposed."
    assert snapshot(case) == before

    # the admin says so and changes nothing
    response = client_for(manager).post(case_url(case, "approve"), {"credit_limit": "25000.00", "note": ""})
    assert response["Location"] == case_url(case)
    assert message_texts(response) == ["A second risk manager must confirm a limit you proposed."]
    assert snapshot(case) == before

    # once idle, the claim goes to another risk manager, never back to the proposer
    ReviewCase.objects.filter(pk=case.pk).update(last_activity_at=clock.now() - timedelta(hours=1))
    assert review_case_claim_next(acting_user=manager) is None
    assert review_case_claim_next(acting_user=manager2).pk == case.pk
    review_case_approve(case_id=case.pk, credit_limit=Decimal("25000.00"), note="ok", acting_user=manager2)
    assert CreditAccount.objects.get(customer__external_id="c-1").credit_limit == Decimal("25000.00")


def test_a_confirmer_may_lower_the_limit_but_raising_it_is_a_new_proposal(reviewer, manager, manager2):
    raised = shared_phone_case(1)
    review_case_claim_next(acting_user=reviewer)
    review_case_approve(case_id=raised.pk, credit_limit=Decimal("22000.00"), note="", acting_user=reviewer)
    review_case_claim_next(acting_user=manager)

    case = review_case_approve(case_id=raised.pk, credit_limit=Decimal("30000.00"), note="more", acting_user=manager)

    assert (case.status, case.proposed_limit, case.proposed_by) == (
        ReviewStatus.AWAITING_CONFIRMATION, Decimal("30000.00"), manager)
    assert not CreditAccount.objects.filter(customer__external_id="c-1").exists()
    event = AuditEvent.objects.filter(action="review_case.high_limit_proposed").latest("id")
    assert event.before == {"proposed_limit": "22000.00", "proposed_by": reviewer.pk}
    review_case_claim_next(acting_user=manager2)
    review_case_approve(case_id=raised.pk, credit_limit=Decimal("26000.00"), note="a bit less", acting_user=manager2)
    assert CreditAccount.objects.get(customer__external_id="c-1").credit_limit == Decimal("26000.00")


def test_up_to_20000_a_risk_manager_or_a_reviewer_approves_alone(reviewer, manager):
    for n, user in ((1, manager), (2, reviewer)):
        case = shared_phone_case(n)
        assert review_case_claim_next(acting_user=user).pk == case.pk
        case = review_case_approve(case_id=case.pk, credit_limit=Decimal("20000.00"), note="", acting_user=user)
        assert (case.status, case.decided_by, case.proposed_by) == (ReviewStatus.DECIDED, user, None)
        assert CreditAccount.objects.get(customer__external_id=f"c-{n}").credit_limit == Decimal("20000.00")


def test_a_confirmer_may_reject_a_proposal(reviewer, manager):
    case = shared_phone_case(1)
    review_case_claim_next(acting_user=reviewer)
    review_case_approve(case_id=case.pk, credit_limit=Decimal("30000.00"), note="", acting_user=reviewer)
    review_case_claim_next(acting_user=manager)
    case = review_case_reject(case_id=case.pk, reason_code="REVIEW_REJECTED_AFFORDABILITY", note="too high",
                              acting_user=manager)
    assert (case.status, case.decision) == (ReviewStatus.DECIDED, "rejected")
    assert not CreditAccount.objects.filter(customer__external_id="c-1").exists()
