"""Scoring policies as versioned data: v1 from the migration, only drafts editable (the
database refuses the rest), activation audited, decisions point at their version."""

import pytest
from django.db import IntegrityError, transaction

from accounts.errors import Conflict, PermissionRefused, ValidationFailed
from accounts.models import AuditEvent
from risk.models import ScoringPolicy
from risk.policy import DEFAULT_POLICY
from risk.services.policies import policy_activate, policy_draft_create, policy_draft_update

pytestmark = pytest.mark.django_db


def test_version_1_is_active_with_the_defaults():
    policy = ScoringPolicy.objects.get(version=1)
    assert policy.status == "active"
    assert policy.parsed == DEFAULT_POLICY


def test_database_refuses_editing_an_active_policy():
    with pytest.raises(Exception, match=r"only_drafts_editable|Cannot update"), transaction.atomic():
        ScoringPolicy.objects.filter(version=1).update(params={"base_score": 1000})
    assert ScoringPolicy.objects.get(version=1).parsed == DEFAULT_POLICY


def test_database_refuses_a_second_active_policy():
    with pytest.raises(IntegrityError), transaction.atomic():
        ScoringPolicy.objects.bulk_create([ScoringPolicy(version=9, params={}, status="active")])


def test_manager_drafts_edits_and_another_activates_audited(manager, manager2):
    draft = policy_draft_create(acting_user=manager, notes="tighter")
    assert draft.version == 2 and draft.status == "draft"
    policy_draft_update(policy_id=draft.pk, params=dict(draft.params, approve_min_score=600),
                                 notes="tighter", acting_user=manager)
    policy_activate(policy_id=draft.pk, acting_user=manager2, reason_text="Q4 risk review")
    assert ScoringPolicy.objects.get(version=1).status == "retired"
    active = ScoringPolicy.objects.get(status="active")
    assert active.version == 2 and active.parsed.approve_min_score == 600
    assert active.activated_by == manager2
    event = AuditEvent.objects.get(action="policy.activated")
    assert event.actor == manager2 and event.reason == "Q4 risk review"
    assert event.before == {"active_version": 1}
    assert event.after == {"active_version": 2, "authors": [manager.pk]}
    with pytest.raises(Conflict):
        policy_draft_update(policy_id=draft.pk, params=draft.params, notes="", acting_user=manager)


def test_reviewer_cannot_edit_or_activate_and_nothing_changes(reviewer, manager):
    draft = policy_draft_create(acting_user=manager)
    before = list(ScoringPolicy.objects.values())
    with pytest.raises(PermissionRefused):
        policy_draft_create(acting_user=reviewer)
    with pytest.raises(PermissionRefused):
        policy_draft_update(policy_id=draft.pk, params={}, notes="", acting_user=reviewer)
    with pytest.raises(PermissionRefused):
        policy_activate(policy_id=draft.pk, acting_user=reviewer, reason_text="x")
    assert list(ScoringPolicy.objects.values()) == before


def test_invalid_draft_params_are_refused(manager):
    draft = policy_draft_create(acting_user=manager)
    with pytest.raises(ValidationFailed):
        policy_draft_update(policy_id=draft.pk, params={"base_score": "lots"}, notes="", acting_user=manager)
    draft.refresh_from_db()
    assert draft.parsed == DEFAULT_POLICY
