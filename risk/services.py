"""Writes of the risk domain: submitting and deciding applications, the manual-review queue,
and scoring-policy versions. Each public service owns its transaction and audits in it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import services as account_services
from accounts.errors import BusinessRuleRefused, Conflict, NotFound, PermissionRefused, ValidationFailed
from accounts.errors import require_permission as _require
from accounts.models import AccountStatus, CreditAccount, Customer
from accounts.pii import keyed_hash, mask_id_number, normalize_id_number

from . import rules, scorecard
from .identity import IdentityProviderUnavailable, IdentityResult, get_identity_provider
from .models import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    PolicyStatus,
    ReviewCase,
    ReviewStatus,
    ScoringPolicy,
)
from .policy import PolicyParams
from .reasons import REVIEW_REJECT_CODES, reason
from .selectors import active_policy, repayment_history_for

logger = logging.getLogger("tally.risk")


@dataclass(frozen=True)
class ApplicantData:
    external_id: str
    name: str
    id_number: str
    phone: str
    store_status: str
    store_since: date
    orders_12m: int
    spend_12m: Decimal
    return_rate: Decimal


# --- applications ------------------------------------------------------------------------


def application_submit(*, kind: str, applicant: ApplicantData, card_token: str) -> Application:
    """Receive an application and decide it as far as possible (DOMAIN.md §3).

    Step 1 (one transaction): upsert the customer, record the application, apply the
    knock-outs. Step 2: ask the identity provider — outside any transaction. Step 3 (one
    transaction): score and decide; approval opens the account, review opens a case.
    """
    application = _application_receive(kind=kind, applicant=applicant, card_token=card_token)
    if application.status != ApplicationStatus.RECEIVED:
        return application
    return _application_check_identity_and_decide(application.pk, id_number=applicant.id_number)


def _application_receive(*, kind: str, applicant: ApplicantData, card_token: str) -> Application:
    today = account_services.business_date_get()
    now = timezone.now()
    id_number = normalize_id_number(applicant.id_number)
    with transaction.atomic():
        existing = (Customer.objects.select_for_update().filter(external_id=applicant.external_id).first())
        account = CreditAccount.objects.filter(customer=existing).first() if existing else None
        if kind == ApplicationKind.ACTIVATION and account is not None and account.status != AccountStatus.CLOSED:
            raise Conflict(_("The customer already has a credit account that is not closed."), code="account_exists",
                           details={"account_id": str(account.pk), "status": account.status})
        if kind == ApplicationKind.REOPEN and (account is None or account.status != AccountStatus.CLOSED):
            if account is not None:
                raise Conflict(_("Only a closed credit account can be reopened."), code="account_exists",
                               details={"account_id": str(account.pk), "status": account.status})
            raise BusinessRuleRefused(_("The customer has no closed credit account to reopen."),
                                      code="no_closed_account")
        if existing is not None and Application.objects.filter(customer=existing, status__in=[
                ApplicationStatus.RECEIVED, ApplicationStatus.PENDING_RETRY, ApplicationStatus.IN_REVIEW]).exists():
            raise Conflict(_("The customer has an application that is still being decided."), code="application_pending")
        customer = _customer_upsert(applicant)
        policy = active_policy()
        params = policy.parsed
        application = Application(
            customer=customer, kind=kind, name=applicant.name, id_number_hash=keyed_hash(id_number),
            id_number_masked=mask_id_number(id_number), phone=applicant.phone,
            store_status=applicant.store_status, store_since=applicant.store_since,
            orders_12m=applicant.orders_12m, spend_12m=applicant.spend_12m, return_rate=applicant.return_rate,
            repayment_card_token=card_token, policy=policy, business_date=today,
        )
        knockout = _knockout(params, application, id_number=id_number, account=account, now=now, today=today)
        application.save()
        if knockout is not None:
            _decide_reject(application, reasons=[knockout], acting_user=None)
        account_services.audit_record(acting_user=None, action="application.received", obj=application,
                                      after={"kind": kind, "status": application.status})
    return application


def _customer_upsert(applicant: ApplicantData) -> Customer:
    fields = {
        "name": applicant.name, "id_number": applicant.id_number, "phone": applicant.phone,
        "store_status": applicant.store_status, "store_since": applicant.store_since,
        "orders_12m": applicant.orders_12m, "spend_12m": applicant.spend_12m, "return_rate": applicant.return_rate,
    }
    try:
        with transaction.atomic():
            return account_services.customer_upsert(external_id=applicant.external_id, **fields)
    except IntegrityError:
        # Another request created the same new customer a moment ago: update theirs.
        return account_services.customer_upsert(external_id=applicant.external_id, **fields)


def _knockout(params: PolicyParams, application: Application, *, id_number: str,
              account: CreditAccount | None, now: datetime, today: date) -> dict[str, Any] | None:
    problem = rules.id_number_problem(id_number, today=today)
    if problem is not None:
        return reason("ID_INVALID", detail=f"id number {problem} check failed")
    if application.store_status != "normal":
        return reason("ACCOUNT_ABNORMAL", detail=f"store account status is {application.store_status}")
    if application.spend_12m < params.min_spend_12m:
        return reason("INSUFFICIENT_HISTORY",
                      detail=f"spend in 12 months {application.spend_12m} < {params.min_spend_12m}")
    window_start = now - timedelta(days=params.velocity_window_days)
    recent = list(
        Application.objects.filter(Q(customer=application.customer) | Q(id_number_hash=application.id_number_hash),
                                   created_at__gte=window_start)
        .order_by("-created_at").values_list("created_at", flat=True)[: params.velocity_max_applications]
    )
    if len(recent) >= params.velocity_max_applications:
        retry_on = timezone.localtime(recent[-1] + timedelta(days=params.velocity_window_days)).date()
        return reason("VELOCITY", detail=f"{len(recent) + 1}th application within {params.velocity_window_days} days",
                      retry_on=retry_on.isoformat())
    if application.kind == ApplicationKind.REOPEN and account is not None:
        if account.written_off_on is not None:
            return reason("PRIOR_WRITE_OFF", detail=f"written off on {account.written_off_on}")
        history = repayment_history_for(application.customer, until=account.closed_on,
                                        lookback_days=params.reopen_lookback_days)
        if history is not None and history.max_days_late > params.reopen_max_days_late:
            return reason("RECENT_DELINQUENCY",
                          detail=f"{history.max_days_late} days late in the 12 months before closing")
    return None


def _application_check_identity_and_decide(application_id: int, *, id_number: str) -> Application:
    application = Application.objects.select_related("policy").get(pk=application_id)
    try:
        result: IdentityResult | None = get_identity_provider().verify(name=application.name, id_number=id_number)
    except IdentityProviderUnavailable as exc:
        logger.warning("identity provider unavailable for application %s: %s", application_id, exc)
        result = None
    with transaction.atomic():
        application = Application.objects.select_for_update().select_related("policy", "customer").get(
            pk=application_id)
        if application.status not in (ApplicationStatus.RECEIVED, ApplicationStatus.PENDING_RETRY):
            return application  # decided meanwhile (e.g. a duplicate retry task)
        params = application.policy.parsed
        application.identity_attempts += 1
        if result is None:
            _identity_unavailable(application, params)
        elif not result.matched:
            _decide_reject(application, reasons=[reason("ID_MISMATCH", detail=f"provider ref {result.reference}")],
                           acting_user=None)
        else:
            _score_and_decide(application, params)
    return application


def _identity_unavailable(application: Application, params: PolicyParams) -> None:
    delays = params.identity_retry_delays_seconds
    attempt = application.identity_attempts  # attempts made so far, including this one
    if attempt <= len(delays):
        application.wait_for_identity_provider()
        application.next_identity_retry_at = timezone.now() + timedelta(seconds=delays[attempt - 1])
        application.reasons = [reason("UPSTREAM_UNAVAILABLE", detail=f"identity provider down, attempt {attempt}")]
        application.save()
        account_services.audit_record(acting_user=None, action="application.pending_retry", obj=application,
                                      after={"next_retry_at": application.next_identity_retry_at.isoformat()})
        _notify_result(application)
        return
    # Retries exhausted: a person decides; a provider failure is never a rejection.
    application.next_identity_retry_at = None
    _send_to_review(application, params, reasons=[reason(
        "IDENTITY_RETRIES_EXHAUSTED", detail=f"identity provider unavailable after {attempt} attempts")],
        flags=["UPSTREAM_UNAVAILABLE"])


def _score_and_decide(application: Application, params: PolicyParams) -> None:
    history = repayment_history_for(application.customer, until=None, lookback_days=None)
    result = scorecard.score(params, scorecard.ScoringInput(
        store_since=application.store_since, orders_12m=application.orders_12m, spend_12m=application.spend_12m,
        return_rate=application.return_rate, history=history, as_of=application.business_date))
    application.score = result.score
    application.score_breakdown = result.breakdown
    outcome = scorecard.band_outcome(params, result.score)
    if outcome == "reject":
        _decide_reject(application, reasons=[reason(
            "SCORE_BELOW_THRESHOLD", detail=f"score {result.score} < {params.review_min_score}")], acting_user=None)
        return
    limit = scorecard.limit_for(params, max(result.score, params.approve_min_score), application.spend_12m)
    application.proposed_limit = limit
    flags: list[str] = []
    reasons: list[dict[str, Any]] = []
    if outcome == "review":
        flags.append("BORDERLINE_SCORE")
        reasons.append(reason("BORDERLINE_SCORE", detail=f"score {result.score} in review band"))
    if (Customer.objects.filter(phone=application.phone).exclude(pk=application.customer_id).exists()):
        flags.append("SHARED_PHONE")
        reasons.append(reason("SHARED_PHONE", detail="phone used by another customer"))
    if limit > params.high_limit_threshold:
        flags.append("HIGH_LIMIT")
        reasons.append(reason("HIGH_LIMIT", detail=f"limit {limit} > {params.high_limit_threshold}"))
    if flags:
        _send_to_review(application, params, reasons=reasons, flags=flags)
        return
    _decide_approve(application, limit=limit, reasons=[reason("APPROVED", detail=f"score {result.score}")],
                    acting_user=None)


def _decide_reject(application: Application, *, reasons: list[dict], acting_user: AbstractBaseUser | None) -> None:
    before = application.status
    application.reject()
    application.reasons = reasons
    application.decided_at = timezone.now()
    application.decided_by = acting_user if getattr(acting_user, "pk", None) else None
    application.next_identity_retry_at = None
    application.save()
    account_services.audit_record(acting_user=acting_user, action="application.rejected", obj=application,
                                  before={"status": before}, after={"status": application.status},
                                  reason=", ".join(r["code"] for r in reasons))
    _notify_result(application)


def _decide_approve(application: Application, *, limit: Decimal, reasons: list[dict],
                    acting_user: AbstractBaseUser | None) -> None:
    before = application.status
    application.approve()
    application.credit_limit = limit
    application.reasons = reasons
    application.decided_at = timezone.now()
    application.decided_by = acting_user if getattr(acting_user, "pk", None) else None
    application.account = account_services.credit_account_open(
        customer=application.customer, credit_limit=limit, card_token=application.repayment_card_token,
        policy_version_id=application.policy_id,
        reason_code="ACCOUNT_REOPENED" if application.kind == ApplicationKind.REOPEN else "ACCOUNT_OPENED",
        acting_user=acting_user)
    application.save()
    account_services.audit_record(acting_user=acting_user, action="application.approved", obj=application,
                                  before={"status": before},
                                  after={"status": application.status, "credit_limit": str(limit)},
                                  reason=", ".join(r["code"] for r in reasons))
    _notify_result(application)


def _send_to_review(application: Application, params: PolicyParams, *, reasons: list[dict], flags: list[str]) -> None:
    application.send_to_review()
    application.flags = flags
    application.reasons = reasons
    application.save()
    ReviewCase.objects.create(application=application,
                              due_at=timezone.now() + timedelta(hours=params.review_deadline_hours))
    account_services.audit_record(acting_user=None, action="application.sent_to_review", obj=application,
                                  after={"status": application.status, "flags": flags})
    _notify_result(application)


def _notify_result(application: Application) -> None:
    account_services.notification_enqueue(
        customer=application.customer, account=application.account, kind="application_result",
        event_key=f"application:{application.pk}:{application.status}",
        params={"application_id": application.pk, "status": application.status,
                "credit_limit": str(application.credit_limit or ""),
                "reasons": [{"code": r["code"], "message": r["message"]} for r in application.reasons]})


def application_retry_identity(*, application_id: int) -> Application:
    """Retry the identity check of a ``pending_retry`` application (the retry task)."""
    application = Application.objects.select_related("customer").get(pk=application_id)
    if application.status != ApplicationStatus.PENDING_RETRY:
        return application
    return _application_check_identity_and_decide(application.pk,
                                                  id_number=application.customer.reveal_id_number())


def applications_due_for_retry(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    now = now or timezone.now()
    return list(Application.objects.filter(status=ApplicationStatus.PENDING_RETRY, next_identity_retry_at__lte=now)
                .order_by("next_identity_retry_at").values_list("id", flat=True)[:limit])


# --- manual review queue -------------------------------------------------------------------


def _claimable_q(user: AbstractBaseUser, *, idle_before: datetime) -> Q:
    states = [ReviewStatus.OPEN]
    if user.has_perm("risk.confirm_high_limit"):
        states += [ReviewStatus.ESCALATED, ReviewStatus.AWAITING_CONFIRMATION]
    expired = Q(status=ReviewStatus.CLAIMED, last_activity_at__lt=idle_before)
    if not user.has_perm("risk.confirm_high_limit"):
        expired &= Q(escalated=False, proposed_limit__isnull=True)
    return Q(status__in=states) | expired


def review_case_claim_next(*, acting_user: AbstractBaseUser) -> ReviewCase | None:
    """Give the reviewer the oldest-due case nobody holds (``SKIP LOCKED``: two reviewers
    never get the same case). A reviewer who still holds a live claim gets that case back."""
    _require(acting_user, "risk.decide_application", _("You may not decide credit applications."))
    params = active_policy().parsed
    now = timezone.now()
    idle_before = now - timedelta(minutes=params.review_claim_idle_minutes)
    with transaction.atomic():
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
        case.save()
        account_services.audit_record(acting_user=acting_user, action="review_case.claimed", obj=case,
                                      before=before, after={"status": case.status, "claimed_by": acting_user.pk})
    return case


def _locked_case_held_by(case_id: int, acting_user: AbstractBaseUser) -> ReviewCase:
    case = (ReviewCase.objects.select_for_update(of=("self", "application"))
            .select_related("application", "application__policy", "application__customer")
            .filter(pk=case_id).first())
    if case is None:
        raise NotFound(_("No such review case."))
    idle_minutes = active_policy().parsed.review_claim_idle_minutes
    idle_before = timezone.now() - timedelta(minutes=idle_minutes)
    if case.status != ReviewStatus.CLAIMED or case.claimed_by_id != acting_user.pk:
        raise Conflict(_("Claim this case before deciding it."), code="case_not_claimed")
    if case.last_activity_at is None or case.last_activity_at < idle_before:
        raise Conflict(_("Your claim expired after %(minutes)s minutes idle; claim the case again.") % {
                           "minutes": idle_minutes},
                       code="claim_expired")
    return case


def review_case_touch(*, case_id: int, acting_user: AbstractBaseUser) -> None:
    """Record reviewer activity on a held case (keeps the claim alive)."""
    now = timezone.now()
    idle_before = now - timedelta(minutes=active_policy().parsed.review_claim_idle_minutes)
    ReviewCase.objects.filter(pk=case_id, claimed_by=acting_user, status=ReviewStatus.CLAIMED,
                              last_activity_at__gte=idle_before).update(last_activity_at=now)


def review_case_release(*, case_id: int, acting_user: AbstractBaseUser) -> ReviewCase:
    _require(acting_user, "risk.decide_application", _("You may not decide credit applications."))
    with transaction.atomic():
        case = _locked_case_held_by(case_id, acting_user)
        case.release()
        case.claimed_by = None
        case.claimed_at = None
        case.save()
        account_services.audit_record(acting_user=acting_user, action="review_case.released", obj=case,
                                      after={"status": case.status})
    return case


def review_claims_expire(*, now: datetime | None = None) -> int:
    """Return cases claimed but idle for longer than the policy allows to the queue."""
    now = now or timezone.now()
    released = 0
    idle_minutes = active_policy().parsed.review_claim_idle_minutes
    with transaction.atomic():
        for case in (ReviewCase.objects.select_for_update(skip_locked=True)
                     .filter(status=ReviewStatus.CLAIMED, last_activity_at__lt=now - timedelta(minutes=idle_minutes))):
            holder = case.claimed_by_id
            case.release()
            case.claimed_by = None
            case.claimed_at = None
            case.save()
            account_services.audit_record(acting_user=None, action="review_case.claim_expired", obj=case,
                                          before={"claimed_by": holder}, after={"status": case.status})
            released += 1
    return released


def review_case_approve(*, case_id: int, credit_limit: Decimal, note: str,
                        acting_user: AbstractBaseUser) -> ReviewCase:
    """Approve with a limit up to the policy maximum. Above the high-limit threshold a risk
    manager (other than the proposer) must confirm: a reviewer's approval becomes a proposal."""
    _require(acting_user, "risk.decide_application", _("You may not decide credit applications."))
    if credit_limit <= 0 or credit_limit != credit_limit.quantize(Decimal("0.01")):
        raise ValidationFailed(_("The limit must be a positive amount in fen."), details={"credit_limit": [_("invalid")]})
    with transaction.atomic():
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
            if not acting_user.has_perm("risk.confirm_high_limit"):
                case.propose_high_limit()
                case.proposed_limit = credit_limit
                case.proposed_by = acting_user
                case.proposal_note = note
                case.claimed_by = None
                case.save()
                account_services.audit_record(acting_user=acting_user, action="review_case.high_limit_proposed",
                                              obj=case, after={"proposed_limit": str(credit_limit)}, reason=note)
                return case
            if case.proposed_by_id == acting_user.pk:
                raise PermissionRefused(_("A second risk manager must confirm a limit you proposed."))
        account = CreditAccount.objects.filter(customer_id=application.customer_id).first()
        if account is not None and account.status != AccountStatus.CLOSED:
            raise Conflict(_("The customer already has a credit account that is not closed."), code="account_exists")
        case.decide()
        case.decision = "approved"
        case.decision_reason_code = "REVIEW_APPROVED"
        case.decision_note = note
        case.decided_by = acting_user
        case.decided_at = timezone.now()
        case.save()
        _decide_approve(application, limit=credit_limit,
                        reasons=[reason("REVIEW_APPROVED", detail=note or "approved in manual review")],
                        acting_user=acting_user)
        account_services.audit_record(acting_user=acting_user, action="review_case.approved", obj=case,
                                      after={"credit_limit": str(credit_limit),
                                             "proposed_by": case.proposed_by_id}, reason=note)
    return case


def review_case_reject(*, case_id: int, reason_code: str, note: str, acting_user: AbstractBaseUser) -> ReviewCase:
    _require(acting_user, "risk.decide_application", _("You may not decide credit applications."))
    allowed = {code for code, _label in REVIEW_REJECT_CODES}
    errors: dict[str, list[str]] = {}
    if reason_code not in allowed:
        errors["reason_code"] = [f"choose one of {', '.join(sorted(allowed))}"]
    if not note.strip():
        errors["note"] = ["a note is required"]
    if errors:
        raise ValidationFailed(_("A rejection needs a reason code and a note."), details=errors)
    with transaction.atomic():
        case = _locked_case_held_by(case_id, acting_user)
        case.decide()
        case.decision = "rejected"
        case.decision_reason_code = reason_code
        case.decision_note = note
        case.decided_by = acting_user
        case.decided_at = timezone.now()
        case.save()
        _decide_reject(case.application, reasons=[reason(reason_code, detail=note)], acting_user=acting_user)
        account_services.audit_record(acting_user=acting_user, action="review_case.rejected", obj=case,
                                      after={"reason_code": reason_code}, reason=note)
    return case


def review_case_escalate(*, case_id: int, note: str, acting_user: AbstractBaseUser) -> ReviewCase:
    _require(acting_user, "risk.decide_application", _("You may not decide credit applications."))
    if not note.strip():
        raise ValidationFailed(_("Say why you escalate."), details={"note": [_("a note is required")]})
    with transaction.atomic():
        case = _locked_case_held_by(case_id, acting_user)
        case.escalate()
        case.escalated = True
        case.escalation_note = note
        case.claimed_by = None
        case.save()
        account_services.audit_record(acting_user=acting_user, action="review_case.escalated", obj=case,
                                      after={"status": case.status}, reason=note)
    return case


def review_cases_flag_breaches(*, now: datetime | None = None) -> int:
    """Mark undecided cases past their deadline (shown as overdue; the nightly close calls this)."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(ReviewCase.objects.filter(due_at__lt=now, deadline_breached=False)
                   .exclude(status=ReviewStatus.DECIDED).values_list("id", flat=True))
        ReviewCase.objects.filter(id__in=ids).update(deadline_breached=True)
        for case_id in ids:
            account_services.audit_record(acting_user=None, action="review_case.deadline_breached",
                                          object_type="risk.reviewcase", object_id=str(case_id))
    return len(ids)


# --- scoring policies ---------------------------------------------------------------------


def _locked_policy(policy_id: int) -> ScoringPolicy:
    policy = ScoringPolicy.objects.select_for_update().filter(pk=policy_id).first()
    if policy is None:
        raise NotFound(_("No such policy version."))
    return policy


def policy_draft_create(*, acting_user: AbstractBaseUser, based_on: ScoringPolicy | None = None,
                        notes: str = "") -> ScoringPolicy:
    _require(acting_user, "risk.edit_policy", _("You may not edit scoring policies."))
    with transaction.atomic():
        source = based_on or active_policy()
        latest = ScoringPolicy.objects.select_for_update().order_by("-version").first()
        try:
            with transaction.atomic():
                draft = ScoringPolicy.objects.create(version=(latest.version if latest else 0) + 1,
                                                     params=source.params, notes=notes, created_by=acting_user)
        except IntegrityError as exc:
            raise Conflict(_("Another draft was created at the same moment; try again."),
                           code="policy_version_taken") from exc
        account_services.audit_record(acting_user=acting_user, action="policy.draft_created", obj=draft,
                                      after={"version": draft.version, "based_on": source.version}, reason=notes)
    return draft


def policy_draft_update(*, policy_id: int, params: dict[str, Any], notes: str,
                        acting_user: AbstractBaseUser) -> ScoringPolicy:
    _require(acting_user, "risk.edit_policy", _("You may not edit scoring policies."))
    try:
        parsed = PolicyParams.from_json(params)
    except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
        raise ValidationFailed(_("Invalid policy parameters: %(error)s") % {"error": exc}, details={"params": [str(exc)]}) from exc
    with transaction.atomic():
        policy = _locked_policy(policy_id)
        if policy.status != PolicyStatus.DRAFT:
            raise Conflict(_("Only a draft policy can be edited."), code="policy_not_draft")
        before = policy.params
        policy.params = parsed.to_json()
        policy.notes = notes
        policy.save()
        account_services.audit_record(acting_user=acting_user, action="policy.draft_updated", obj=policy,
                                      before={"params": before}, after={"params": policy.params}, reason=notes)
    return policy


def policy_activate(*, policy_id: int, acting_user: AbstractBaseUser, reason_text: str) -> ScoringPolicy:
    """Activate a draft; the previously active version is retired. Audited."""
    _require(acting_user, "risk.activate_policy", _("You may not activate scoring policies."))
    if not reason_text.strip():
        raise ValidationFailed(_("Say why this version is activated."), details={"reason": [_("required")]})
    with transaction.atomic():
        policy = _locked_policy(policy_id)
        if policy.status != PolicyStatus.DRAFT:
            raise Conflict(_("Only a draft policy can be activated."), code="policy_not_draft")
        try:
            PolicyParams.from_json(policy.params)
        except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
            raise ValidationFailed(_("Invalid policy parameters: %(error)s") % {"error": exc}, details={"params": [str(exc)]}) from exc
        current = ScoringPolicy.objects.select_for_update().filter(status=PolicyStatus.ACTIVE).first()
        if current is not None:
            current.retire()
            current.save()
        policy.activate()
        policy.activated_by = acting_user
        policy.activated_at = timezone.now()
        policy.save()
        account_services.audit_record(acting_user=acting_user, action="policy.activated", obj=policy,
                                      before={"active_version": current.version if current else None},
                                      after={"active_version": policy.version}, reason=reason_text)
    return policy
