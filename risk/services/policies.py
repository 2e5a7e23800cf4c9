"""Scoring policies (docs/rules.md §3): versioned data; only a draft is edited; activating a
version retires the active one and is audited. Four eyes: whoever creates or edits a draft is one
of its authors, and no author may activate it."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from accounts import clock
from accounts.audit_trail import Actor, audit_record, require_staff
from accounts.errors import Conflict, NotFound, PermissionRefused, ValidationFailed
from risk.models import PolicyStatus, ScoringPolicy
from risk.policy import PolicyParams
from risk.selectors import active_policy, is_policy_author

# What a malformed parameter raises while ``PolicyParams.from_json`` parses and bounds it.
_PARAMS_ERRORS = (ValueError, TypeError, KeyError, ArithmeticError, AttributeError)


def _parsed_params(params: Any) -> PolicyParams:
    """Shape, order and bounds (``risk.policy.BOUNDS``); a refusal names the first fault."""
    try:
        if not isinstance(params, dict):
            raise TypeError("the parameters must be a JSON object")
        return PolicyParams.from_json(params)
    except _PARAMS_ERRORS as exc:
        raise ValidationFailed(_("Invalid policy parameters: %(error)s") % {"error": exc},
                               details={"params": [str(exc)]}) from exc


def _locked_policy(policy_id: int) -> ScoringPolicy:
    policy = ScoringPolicy.objects.select_for_update().filter(pk=policy_id).first()
    if policy is None:
        raise NotFound(_("No such policy version."))
    return policy


def policy_draft_create(*, acting_user: Actor, based_on: ScoringPolicy | None = None,
                        notes: str = "") -> ScoringPolicy:
    acting_user = require_staff(acting_user, "risk.edit_policy", _("You may not edit scoring policies."))
    with transaction.atomic(durable=True):
        source = based_on or active_policy()
        latest = ScoringPolicy.objects.select_for_update().order_by("-version").first()
        try:
            with transaction.atomic():
                draft = ScoringPolicy.objects.create(version=(latest.version if latest else 0) + 1,
                                                     params=source.params, notes=notes, created_by=acting_user)
        except IntegrityError as exc:
            raise Conflict(_("Another draft was created at the same moment; try again."),
                           code="policy_version_taken") from exc
        draft.authors.add(acting_user)
        audit_record(acting_user=acting_user, action="policy.draft_created", obj=draft,
                                      after={"version": draft.version, "based_on": source.version}, reason=notes)
    return draft


def policy_draft_update(*, policy_id: int, params: dict[str, Any], notes: str,
                        acting_user: Actor) -> ScoringPolicy:
    acting_user = require_staff(acting_user, "risk.edit_policy", _("You may not edit scoring policies."))
    parsed = _parsed_params(params)
    with transaction.atomic(durable=True):
        policy = _locked_policy(policy_id)
        if policy.status != PolicyStatus.DRAFT:
            raise Conflict(_("Only a draft policy can be edited."), code="policy_not_draft")
        before = policy.params
        policy.params = parsed.to_json()
        policy.notes = notes
        policy.save(update_fields=["params", "notes"])
        policy.authors.add(acting_user)  # an editor is an author: four eyes at activation
        audit_record(acting_user=acting_user, action="policy.draft_updated", obj=policy,
                                      before={"params": before}, after={"params": policy.params}, reason=notes)
    return policy


def policy_activate(*, policy_id: int, acting_user: Actor, reason_text: str) -> ScoringPolicy:
    """Activate a draft; the previously active version is retired. Audited. Four eyes: refused
    (403 ``four_eyes``) to any author of the draft (``created_by`` or ``authors``)."""
    acting_user = require_staff(acting_user, "risk.activate_policy", _("You may not activate scoring policies."))
    if not reason_text.strip():
        raise ValidationFailed(_("Say why this version is activated."), details={"reason": [_("required")]})
    with transaction.atomic(durable=True):
        policy = _locked_policy(policy_id)
        if policy.status != PolicyStatus.DRAFT:
            raise Conflict(_("Only a draft policy can be activated."), code="policy_not_draft")
        if is_policy_author(policy, acting_user.pk):
            raise PermissionRefused(_("You created or edited this draft: another risk manager must activate it."),
                                    code="four_eyes")
        _parsed_params(policy.params)
        current = ScoringPolicy.objects.select_for_update().filter(status=PolicyStatus.ACTIVE).first()
        if current is not None:
            current.retire()
            current.save(update_fields=["status"])
        policy.activate()
        policy.activated_by = acting_user
        policy.activated_at = clock.now()
        policy.save(update_fields=["status", "activated_by", "activated_at"])
        audit_record(acting_user=acting_user, action="policy.activated", obj=policy,
                                      before={"active_version": current.version if current else None},
                                      after={"active_version": policy.version,
                                             "authors": sorted(policy.authors.values_list("pk", flat=True))},
                                      reason=reason_text)
    return policy
