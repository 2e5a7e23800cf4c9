"""Credit applications (docs/rules.md §3): receiving one, the knock-outs, the identity check
(outside any transaction), the scorecard and the decision — approve (the credit account opens
or reopens), reject, or send to manual review."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import clock
from accounts.audit_trail import Actor, audit_record, staff_user
from accounts.business_day import business_date_get
from accounts.customers import customer_upsert
from accounts.errors import BusinessRuleRefused, Conflict
from accounts.lifecycle import credit_line
from accounts.lifecycle.states import AccountStatus
from accounts.models import CreditAccount, Customer
from accounts.outbox import notification_enqueue
from accounts.pii import keyed_hash, mask_id_number, normalize_id_number
from risk import rules, scorecard
from risk.identity import IdentityProviderUnavailable, IdentityResult, get_identity_provider
from risk.models import Application, ApplicationKind, ApplicationStatus, ReviewCase
from risk.policy import PolicyParams
from risk.reasons import reason
from risk.selectors import active_policy, repayment_history_for, written_off_account_of

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


def application_submit(*, kind: str, applicant: ApplicantData, card_token: str,
                       acting_user: Actor = None) -> Application:
    """Receive an application and decide it as far as possible (docs/rules.md §3).

    Step 1 (one transaction): upsert the customer, record the application, apply the
    knock-outs. Step 2: ask the identity provider — outside any transaction. Step 3 (one
    transaction): score and decide; approval opens the account, review opens a case.
    """
    application = _application_receive(kind=kind, applicant=applicant, card_token=card_token, acting_user=acting_user)
    if application.status != ApplicationStatus.RECEIVED:
        return application
    return _application_check_identity_and_decide(application.pk, id_number=applicant.id_number)


def _application_receive(*, kind: str, applicant: ApplicantData, card_token: str, acting_user: Actor) -> Application:
    today = business_date_get()
    now = clock.now()
    id_number = normalize_id_number(applicant.id_number)
    with transaction.atomic(durable=True):
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
        customer = _customer_upsert(applicant, acting_user)
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
            decide_reject(application, reasons=[knockout], acting_user=None)
        audit_record(acting_user=acting_user, action="application.received", obj=application,
                                      after={"kind": kind, "status": application.status})
    return application


def _customer_upsert(applicant: ApplicantData, acting_user: Actor) -> Customer:
    def upsert() -> Customer:
        return customer_upsert(
            external_id=applicant.external_id, acting_user=acting_user, name=applicant.name,
            id_number=applicant.id_number, phone=applicant.phone, store_status=applicant.store_status,
            store_since=applicant.store_since, orders_12m=applicant.orders_12m, spend_12m=applicant.spend_12m,
            return_rate=applicant.return_rate)

    try:
        with transaction.atomic():
            return upsert()
    except IntegrityError:
        # Another request created the same new customer a moment ago: update theirs.
        return upsert()


def _knockout(params: PolicyParams, application: Application, *, id_number: str,
              account: CreditAccount | None, now: datetime, today: date) -> dict[str, Any] | None:
    problem = rules.id_number_problem(id_number, today=today)
    if problem is not None:
        return reason("ID_INVALID", detail=f"id number {problem} check failed")
    written_off = written_off_account_of(application.id_number_hash)
    if written_off is not None:  # any kind, any store id: the person defaulted (docs/rules.md §3)
        return reason("PRIOR_WRITE_OFF", detail=f"an account of this ID number was written off on "
                                                f"{written_off.written_off_on}")
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
    except Exception:
        # Any other failure of the check is the provider's too: retried on the policy's delays,
        # then a person decides — never a rejection, never an application stuck in received.
        logger.exception("identity check of application %s failed", application_id)
        result = None
    with transaction.atomic(durable=True):
        application = Application.objects.select_for_update().select_related("policy", "customer").get(
            pk=application_id)
        if application.status not in (ApplicationStatus.RECEIVED, ApplicationStatus.PENDING_RETRY):
            return application  # decided meanwhile (e.g. a duplicate retry task)
        params = application.policy.parsed
        application.identity_attempts += 1
        if result is None:
            _identity_unavailable(application, params)
        elif not result.matched:
            decide_reject(application, reasons=[reason("ID_MISMATCH", detail=f"provider ref {result.reference}")],
                           acting_user=None)
        else:
            _score_and_decide(application, params)
    return application


STUCK_AFTER = timedelta(minutes=10)


def applications_sweep_stuck(*, now: datetime | None = None) -> int:
    """Applications left in ``received`` longer than ten minutes (their worker died mid-way)
    go to ``pending_retry``, due at once: the retry sweep checks the identity again. Returns
    how many moved."""
    now = now or clock.now()
    stuck = list(Application.objects.filter(status=ApplicationStatus.RECEIVED, created_at__lt=now - STUCK_AFTER)
                 .order_by("created_at").values_list("id", flat=True)[:1000])
    moved = 0
    for application_id in stuck:
        with transaction.atomic(durable=True):
            application = Application.objects.select_for_update().get(pk=application_id)
            if application.status != ApplicationStatus.RECEIVED:
                continue
            application.wait_for_identity_provider()
            application.next_identity_retry_at = now
            application.reasons = [reason("UPSTREAM_UNAVAILABLE", detail="left in received over 10 minutes")]
            application.save(update_fields=["status", "next_identity_retry_at", "reasons", "updated_at"])
            audit_record(acting_user=None, action="application.pending_retry", obj=application,
                         after={"next_retry_at": now.isoformat()}, reason="left in received over 10 minutes")
            moved += 1
    return moved


def _identity_unavailable(application: Application, params: PolicyParams) -> None:
    delays = params.identity_retry_delays_seconds
    attempt = application.identity_attempts  # attempts made so far, including this one
    if attempt <= len(delays):
        application.wait_for_identity_provider()
        application.next_identity_retry_at = clock.now() + timedelta(seconds=delays[attempt - 1])
        application.reasons = [reason("UPSTREAM_UNAVAILABLE", detail=f"identity provider down, attempt {attempt}")]
        application.save(update_fields=["identity_attempts", "status", "next_identity_retry_at", "reasons",
                                        "updated_at"])
        audit_record(acting_user=None, action="application.pending_retry", obj=application,
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
        decide_reject(application, reasons=[reason(
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
    decide_approve(application, limit=limit, reasons=[reason("APPROVED", detail=f"score {result.score}")],
                    acting_user=None)


def decide_reject(application: Application, *, reasons: list[dict], acting_user: Actor) -> None:
    """Reject (inside the caller's transaction): the customer is told why."""
    before = application.status
    application.reject()
    application.reasons = reasons
    application.decided_at = clock.now()
    application.decided_by = staff_user(acting_user)
    application.next_identity_retry_at = None
    # With what the identity check and the scorecard set before (``_application_check_identity_and_decide``).
    application.save(update_fields=["status", "reasons", "decided_at", "decided_by", "next_identity_retry_at",
                                    "identity_attempts", "score", "score_breakdown", "updated_at"])
    audit_record(acting_user=acting_user, action="application.rejected", obj=application,
                                  before={"status": before}, after={"status": application.status},
                                  reason=", ".join(r["code"] for r in reasons))
    _notify_result(application)


def decide_approve(application: Application, *, limit: Decimal, reasons: list[dict],
                    acting_user: Actor) -> None:
    """Approve (inside the caller's transaction): the credit account opens, or the closed one
    reopens, with ``limit``; the customer is told."""
    before = application.status
    application.approve()
    application.credit_limit = limit
    application.reasons = reasons
    application.decided_at = clock.now()
    application.decided_by = staff_user(acting_user)
    application.account = credit_line.open_account(
        customer=application.customer, credit_limit=limit, card_token=application.repayment_card_token,
        policy_version_id=application.policy_id,
        reason_code="ACCOUNT_REOPENED" if application.kind == ApplicationKind.REOPEN else "ACCOUNT_OPENED",
        acting_user=acting_user)
    # With what the identity check and the scorecard set before (``_application_check_identity_and_decide``).
    application.save(update_fields=["status", "credit_limit", "reasons", "decided_at", "decided_by", "account",
                                    "identity_attempts", "score", "score_breakdown", "proposed_limit", "updated_at"])
    audit_record(acting_user=acting_user, action="application.approved", obj=application,
                                  before={"status": before},
                                  after={"status": application.status, "credit_limit": str(limit)},
                                  reason=", ".join(r["code"] for r in reasons))
    _notify_result(application)


def _send_to_review(application: Application, params: PolicyParams, *, reasons: list[dict], flags: list[str]) -> None:
    application.send_to_review()
    application.flags = flags
    application.reasons = reasons
    # With what the identity check and the scorecard set before (``_application_check_identity_and_decide``).
    application.save(update_fields=["status", "flags", "reasons", "identity_attempts", "next_identity_retry_at",
                                    "score", "score_breakdown", "proposed_limit", "updated_at"])
    ReviewCase.objects.create(application=application,
                              due_at=clock.now() + timedelta(hours=params.review_deadline_hours))
    audit_record(acting_user=None, action="application.sent_to_review", obj=application,
                                  after={"status": application.status, "flags": flags})
    _notify_result(application)


def _notify_result(application: Application) -> None:
    notification_enqueue(
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
