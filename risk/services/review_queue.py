"""The manual-review queue (docs/rules.md §3): claim next (``SKIP LOCKED``: two reviewers never
get the same case), claims that expire when idle, the decisions — approve (above the
high-limit threshold every approval is a proposal that a risk manager other than the proposer
confirms), reject, escalate — decide-and-claim-next, a risk manager's release or reassignment
of claimed cases, and deadline breaches. Escalations and proposals notify the risk managers
(the staff inbox, decision 0032)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts import clock
from accounts.audit_trail import Actor, StaffUser, audit_record, require_staff, staff_user
from accounts.errors import BusinessRuleRefused, Conflict, NotFound, PermissionRefused, ValidationFailed
from accounts.lifecycle.states import AccountStatus
from accounts.models import CreditAccount
from accounts.staff_inbox import staff_notify
from risk.models import ReviewCase, ReviewStatus
from risk.reasons import REVIEW_REJECT_CODES, reason
from risk.selectors import active_policy

from .applications import decide_approve, decide_reject

CONFIRM_HIGH_LIMIT = "risk.confirm_high_limit"


def _case_link(case: ReviewCase) -> str:
    return reverse("admin:risk_reviewcase_change", args=[case.pk])


def _claimable_q(user: StaffUser, *, idle_before: datetime) -> Q:
    states = [ReviewStatus.OPEN]
    if user.has_perm("risk.confirm_high_limit"):
        states += [ReviewStatus.ESCALATED, ReviewStatus.AWAITING_CONFIRMATION]
    expired = Q(status=ReviewStatus.CLAIMED, last_activity_at__lt=idle_before)
    if not user.has_perm("risk.confirm_high_limit"):
        expired &= Q(escalated=False, proposed_limit__isnull=True)
    # A proposer never gets their own proposal to confirm (four eyes).
    return (Q(status__in=states) | expired) & ~Q(proposed_by=user)


def review_case_claim_next(*, acting_user: Actor) -> ReviewCase | None:
    """Give the reviewer the oldest-due case nobody holds (``SKIP LOCKED``: two reviewers
    never get the same case). A reviewer who still holds a live claim gets that case back."""
    acting_user = require_staff(acting_user, "risk.decide_application", _("You may not decide credit applications."))
    params = active_policy().parsed
    now = clock.now()
    idle_before = now - timedelta(minutes=params.review_claim_idle_minutes)
    with transaction.atomic(durable=True):
        mine = (ReviewCase.objects.select_for_update(skip_locked=True)
                .filter(status=ReviewStatus.CLAIMED, claimed_by=acting_user, last_activity_at__gte=idle_before)
                .order_by("due_at", "id").first())
        if mine is not None:
            return mine
        case = (ReviewCase.objects.select_for_update(skip_locked=True)
                .filter(_claimable_q(acting_user, idle_before=idle_before))
                .order_by("due_at", "id").first())
        if case is None:
            return None
        before = {"status": case.status, "claimed_by": case.claimed_by_id}
        case.claim()
        case.claimed_by = acting_user
        case.claimed_at = now
        case.last_activity_at = now
        case.save(update_fields=["status", "claimed_by", "claimed_at", "last_activity_at"])
        audit_record(acting_user=acting_user, action="review_case.claimed", obj=case,
                                      before=before, after={"status": case.status, "claimed_by": acting_user.pk})
    return case


def _locked_case_held_by(case_id: int, acting_user: StaffUser) -> ReviewCase:
    case = (ReviewCase.objects.select_for_update(of=("self", "application"))
            .select_related("application", "application__policy", "application__customer")
            .filter(pk=case_id).first())
    if case is None:
        raise NotFound(_("No such review case."))
    idle_minutes = active_policy().parsed.review_claim_idle_minutes
    idle_before = clock.now() - timedelta(minutes=idle_minutes)
    if case.status != ReviewStatus.CLAIMED or case.claimed_by_id != acting_user.pk:
        raise Conflict(_("Claim this case before deciding it."), code="case_not_claimed")
    if case.last_activity_at is None or case.last_activity_at < idle_before:
        raise Conflict(_("Your claim expired after %(minutes)s minutes idle; claim the case again.") % {
                           "minutes": idle_minutes},
                       code="claim_expired")
    return case


def review_case_touch(*, case_id: int, acting_user: Actor) -> None:
    """Record reviewer activity on a held case (keeps the claim alive)."""
    reviewer = staff_user(acting_user)
    if reviewer is None:  # only a member of staff holds a claim
        return
    now = clock.now()
    idle_before = now - timedelta(minutes=active_policy().parsed.review_claim_idle_minutes)
    ReviewCase.objects.filter(pk=case_id, claimed_by=reviewer, status=ReviewStatus.CLAIMED,
                              last_activity_at__gte=idle_before).update(last_activity_at=now)


def review_case_release(*, case_id: int, acting_user: Actor) -> ReviewCase:
    acting_user = require_staff(acting_user, "risk.decide_application", _("You may not decide credit applications."))
    with transaction.atomic(durable=True):
        case = _locked_case_held_by(case_id, acting_user)
        case.release()
        case.claimed_by = None
        case.claimed_at = None
        case.save(update_fields=["status", "claimed_by", "claimed_at"])
        audit_record(acting_user=acting_user, action="review_case.released", obj=case,
                                      after={"status": case.status})
    return case


def review_claims_expire(*, now: datetime | None = None) -> int:
    """Return cases claimed but idle for longer than the policy allows to the queue."""
    now = now or clock.now()
    released = 0
    idle_minutes = active_policy().parsed.review_claim_idle_minutes
    with transaction.atomic(durable=True):
        for case in (ReviewCase.objects.select_for_update(skip_locked=True)
                     .filter(status=ReviewStatus.CLAIMED, last_activity_at__lt=now - timedelta(minutes=idle_minutes))):
            holder = case.claimed_by_id
            case.release()
            case.claimed_by = None
            case.claimed_at = None
            case.save(update_fields=["status", "claimed_by", "claimed_at"])
            audit_record(acting_user=None, action="review_case.claim_expired", obj=case,
                                          before={"claimed_by": holder}, after={"status": case.status})
            released += 1
    return released


def review_case_approve(*, case_id: int, credit_limit: Decimal, note: str,
                        acting_user: Actor) -> ReviewCase:
    """Approve with a limit up to the policy maximum. Above the high-limit threshold (policy
    ``high_limit_threshold``) four eyes: whoever approves — reviewer or risk manager — only
    proposes (case ``awaiting_confirmation``); a risk manager other than the proposer confirms
    with a limit up to the one proposed (a higher one is a new proposal, theirs). The proposer
    confirming is refused (403 ``four_eyes``)."""
    acting_user = require_staff(acting_user, "risk.decide_application", _("You may not decide credit applications."))
    if credit_limit <= 0 or credit_limit != credit_limit.quantize(Decimal("0.01")):
        raise ValidationFailed(_("The limit must be a positive amount in fen."), details={"credit_limit": [_("invalid")]})
    with transaction.atomic(durable=True):
        case = _locked_case_held_by(case_id, acting_user)
        application = case.application
        params = application.policy.parsed
        if credit_limit > params.review_max_limit:
            raise BusinessRuleRefused(_("The limit may not exceed the policy maximum of %(maximum)s.") % {
                                          "maximum": params.review_max_limit},
                                      code="limit_above_policy_maximum",
                                      details={"maximum": str(params.review_max_limit)})
        if credit_limit % params.limit_rounding != 0:
            raise ValidationFailed(_("The limit must be a multiple of %(step)s.") % {"step": params.limit_rounding},
                                   details={"credit_limit": [_("not a multiple of the rounding step")]})
        if credit_limit > params.high_limit_threshold:
            if case.proposed_by_id == acting_user.pk:
                raise PermissionRefused(_("A second risk manager must confirm a limit you proposed."),
                                        code="four_eyes")
            confirms = (case.proposed_limit is not None and case.proposed_by_id is not None
                        and credit_limit <= case.proposed_limit
                        and acting_user.has_perm("risk.confirm_high_limit"))
            if not confirms:
                before = {"proposed_limit": None if case.proposed_limit is None else str(case.proposed_limit),
                          "proposed_by": case.proposed_by_id}
                case.propose_high_limit()
                case.proposed_limit = credit_limit
                case.proposed_by = acting_user
                case.proposal_note = note
                case.claimed_by = None
                case.save(update_fields=["status", "proposed_limit", "proposed_by", "proposal_note", "claimed_by"])
                audit_record(acting_user=acting_user, action="review_case.high_limit_proposed",
                                              obj=case, before=before, after={"proposed_limit": str(credit_limit)},
                                              reason=note)
                staff_notify(permission=CONFIRM_HIGH_LIMIT, exclude=[acting_user], kind="review_case.high_limit_proposed",
                             message=_("Review case #%(case)s: a limit of %(limit)s proposed by %(user)s awaits your "
                                       "confirmation."),
                             params={"case": case.pk, "limit": credit_limit, "user": acting_user.get_username()},
                             link=_case_link(case))
                return case
        account = CreditAccount.objects.filter(customer_id=application.customer_id).first()
        if account is not None and account.status != AccountStatus.CLOSED:
            raise Conflict(_("The customer already has a credit account that is not closed."), code="account_exists")
        case.decide()
        case.decision = "approved"
        case.decision_reason_code = "REVIEW_APPROVED"
        case.decision_note = note
        case.decided_by = acting_user
        case.decided_at = clock.now()
        case.save(update_fields=["status", "decision", "decision_reason_code", "decision_note", "decided_by",
                                 "decided_at"])
        decide_approve(application, limit=credit_limit,
                        reasons=[reason("REVIEW_APPROVED", detail=note or "approved in manual review")],
                        acting_user=acting_user)
        audit_record(acting_user=acting_user, action="review_case.approved", obj=case,
                                      after={"credit_limit": str(credit_limit),
                                             "proposed_by": case.proposed_by_id}, reason=note)
    return case


def review_case_reject(*, case_id: int, reason_code: str, note: str, acting_user: Actor) -> ReviewCase:
    acting_user = require_staff(acting_user, "risk.decide_application", _("You may not decide credit applications."))
    allowed = {code for code, _label in REVIEW_REJECT_CODES}
    errors: dict[str, list[str]] = {}
    if reason_code not in allowed:
        errors["reason_code"] = [f"choose one of {', '.join(sorted(allowed))}"]
    if not note.strip():
        errors["note"] = ["a note is required"]
    if errors:
        raise ValidationFailed(_("A rejection needs a reason code and a note."), details=errors)
    with transaction.atomic(durable=True):
        case = _locked_case_held_by(case_id, acting_user)
        case.decide()
        case.decision = "rejected"
        case.decision_reason_code = reason_code
        case.decision_note = note
        case.decided_by = acting_user
        case.decided_at = clock.now()
        case.save(update_fields=["status", "decision", "decision_reason_code", "decision_note", "decided_by",
                                 "decided_at"])
        decide_reject(case.application, reasons=[reason(reason_code, detail=note)], acting_user=acting_user)
        audit_record(acting_user=acting_user, action="review_case.rejected", obj=case,
                                      after={"reason_code": reason_code}, reason=note)
    return case


def review_case_escalate(*, case_id: int, note: str, acting_user: Actor) -> ReviewCase:
    acting_user = require_staff(acting_user, "risk.decide_application", _("You may not decide credit applications."))
    if not note.strip():
        raise ValidationFailed(_("Say why you escalate."), details={"note": [_("a note is required")]})
    with transaction.atomic(durable=True):
        case = _locked_case_held_by(case_id, acting_user)
        case.escalate()
        case.escalated = True
        case.escalation_note = note
        case.claimed_by = None
        case.save(update_fields=["status", "escalated", "escalation_note", "claimed_by"])
        audit_record(acting_user=acting_user, action="review_case.escalated", obj=case,
                                      after={"status": case.status}, reason=note)
        staff_notify(permission=CONFIRM_HIGH_LIMIT, exclude=[acting_user], kind="review_case.escalated",
                     message=_("Review case #%(case)s was escalated to you by %(user)s: %(note)s"),
                     params={"case": case.pk, "user": acting_user.get_username(), "note": note.strip()[:200]},
                     link=_case_link(case))
    return case


def review_case_approve_and_claim_next(*, case_id: int, credit_limit: Decimal, note: str,
                                       acting_user: Actor) -> tuple[ReviewCase, ReviewCase | None]:
    """Approve (or propose), then claim the next case: two transactions, in that order, so a
    refused decision claims nothing and a decision stands whatever the claim finds."""
    decided = review_case_approve(case_id=case_id, credit_limit=credit_limit, note=note, acting_user=acting_user)
    return decided, review_case_claim_next(acting_user=acting_user)


def review_case_reject_and_claim_next(*, case_id: int, reason_code: str, note: str,
                                      acting_user: Actor) -> tuple[ReviewCase, ReviewCase | None]:
    """Reject, then claim the next case (two transactions, in that order)."""
    decided = review_case_reject(case_id=case_id, reason_code=reason_code, note=note, acting_user=acting_user)
    return decided, review_case_claim_next(acting_user=acting_user)


@dataclass
class Reassignment:
    """What a risk manager's release or reassignment did: the cases changed, and those refused
    (id → why), which are left exactly as they were."""

    changed: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def review_cases_reassign(*, case_ids: Iterable[int], assignee: StaffUser | None, acting_user: Actor) -> Reassignment:
    """A risk manager releases claimed cases to the queue (``assignee`` None) or hands them to
    another member of staff, whose claim starts now. Only claimed cases move; the assignee
    must be active staff who may decide cases, and hold ``risk.confirm_high_limit`` for an
    escalated case or a proposal — never their own proposal (four eyes). Each change is
    audited; the assignee is notified."""
    acting_user = require_staff(acting_user, CONFIRM_HIGH_LIMIT, _("Only a risk manager may reassign review cases."))
    ids = sorted({int(case_id) for case_id in case_ids})
    result = Reassignment()
    if assignee is not None and not (assignee.is_active and assignee.is_staff
                                     and assignee.has_perm("risk.decide_application")):
        result.refused = {case_id: str(_("%(user)s may not decide review cases.") % {"user": assignee.get_username()})
                          for case_id in ids}
        return result
    now = clock.now()
    with transaction.atomic(durable=True):
        cases = {case.pk: case for case in ReviewCase.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
        for case_id in ids:
            case = cases.get(case_id)
            if case is None:
                result.refused[case_id] = str(_("No such review case."))
                continue
            if case.status != ReviewStatus.CLAIMED:
                result.refused[case_id] = str(_("Case #%(case)s is not claimed (%(status)s).") % {
                    "case": case.pk, "status": case.get_status_display()})
                continue
            if assignee is not None:
                if case.claimed_by_id == assignee.pk:
                    result.refused[case_id] = str(_("Case #%(case)s is already claimed by %(user)s.") % {
                        "case": case.pk, "user": assignee.get_username()})
                    continue
                manager_case = case.escalated or case.proposed_limit is not None
                if manager_case and not assignee.has_perm(CONFIRM_HIGH_LIMIT):
                    result.refused[case_id] = str(_("Case #%(case)s needs a risk manager.") % {"case": case.pk})
                    continue
                if case.proposed_by_id == assignee.pk:
                    result.refused[case_id] = str(_("Case #%(case)s holds %(user)s's own proposal (four eyes).") % {
                        "case": case.pk, "user": assignee.get_username()})
                    continue
            before = {"status": case.status, "claimed_by": case.claimed_by_id}
            if assignee is None:
                case.release()
                case.claimed_by = None
                case.claimed_at = None
                case.save(update_fields=["status", "claimed_by", "claimed_at"])
                audit_record(acting_user=acting_user, action="review_case.released_by_manager", obj=case,
                             before=before, after={"status": case.status, "claimed_by": None})
            else:
                case.claimed_by = assignee
                case.claimed_at = now
                case.last_activity_at = now
                case.save(update_fields=["claimed_by", "claimed_at", "last_activity_at"])
                audit_record(acting_user=acting_user, action="review_case.reassigned", obj=case,
                             before=before, after={"status": case.status, "claimed_by": assignee.pk})
            result.changed.append(case.pk)
        if assignee is not None and result.changed:
            staff_notify(recipients=[assignee], kind="review_case.assigned",
                         message=_("%(user)s assigned you %(count)s review case(s): #%(cases)s"),
                         params={"user": acting_user.get_username(), "count": len(result.changed),
                                 "cases": ", #".join(str(pk) for pk in result.changed)},
                         link=reverse("admin:risk_reviewcase_changelist") + "?queue=mine")
    return result


def review_cases_flag_breaches(*, now: datetime | None = None) -> int:
    """Mark undecided cases past their deadline (shown as overdue; the nightly close calls this)."""
    now = now or clock.now()
    with transaction.atomic(durable=True):
        ids = list(ReviewCase.objects.filter(due_at__lt=now, deadline_breached=False)
                   .exclude(status=ReviewStatus.DECIDED).values_list("id", flat=True))
        ReviewCase.objects.filter(id__in=ids).update(deadline_breached=True)
        for case_id in ids:
            audit_record(acting_user=None, action="review_case.deadline_breached",
                                          object_type="risk.reviewcase", object_id=str(case_id))
    return len(ids)
