"""Closure and reopening of a credit line at the customer's request, and closure for cause
(docs/rules.md §9): a request waits for the payoff, an agent verifies the customer's
identity, a risk check decides; the customer may accept an alternative instead (a lower
limit, or a pause); a risk manager closes an account for fraud or a breach of terms. The
account's own changes are ``accounts.lifecycle.credit_line``'s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import can_proceed

from accounts import clock
from accounts.audit_trail import Actor, StaffUser, audit_record, require_staff, staff_user
from accounts.business_day import business_date_get
from accounts.errors import BusinessRuleRefused, Conflict, NotFound, ValidationFailed
from accounts.errors import require_permission as _require
from accounts.ledger import lock_credit_account
from accounts.lifecycle import credit_line
from accounts.lifecycle.states import AccountStatus
from accounts.models import CreditAccount
from accounts.money import to_money
from accounts.outbox import notification_enqueue
from complaints import deadlines
from complaints.models import (
    DISPUTE_CATEGORIES,
    OPEN_CLOSURE_STATUSES,
    OPEN_COMPLAINT_STATUSES,
    Alternative,
    Channel,
    ClosureOrigin,
    ClosureRequest,
    ClosureStatus,
    Complaint,
)
from complaints.reasons import SYSTEM_CLOSURE_CODES, reason
from installments.models import AttemptStatus, PaymentAttempt
from installments.services.payouts import payout_at_closure
from installments.services.repayments import book_repayments, credit_balance_payments
from risk.selectors import active_policy

from .complaints import move, required_text

HANDLE_CLOSURE = "complaints.handle_closure"
CLOSE_FOR_CAUSE = "accounts.close_account"


def _locked_request(request_id: int) -> tuple[CreditAccount, ClosureRequest]:
    account_id = ClosureRequest.objects.filter(pk=request_id).values_list("account_id", flat=True).first()
    if account_id is None:
        raise NotFound(_("No such closure request."))
    account = lock_credit_account(account_id)
    request = ClosureRequest.objects.select_for_update().get(pk=request_id)
    return account, request


def _request_snapshot(request: ClosureRequest) -> dict[str, Any]:
    return {"status": request.status, "identity_verified": request.identity_verified_at is not None}


def _request_audit(request: ClosureRequest, *, action: str, acting_user: Actor,
                   before: dict | None = None, reason_text: str = "", after: dict | None = None) -> None:
    audit_record(acting_user=acting_user, action=f"closure_request.{action}", obj=request,
                                  before=before, after={**_request_snapshot(request), **(after or {})},
                                  reason=reason_text)


def closure_request_create(*, account_id: int, channel: str, note: str = "", acting_user: Actor = None,
                           complaint_id: int | None = None, identity_method: str = "") -> ClosureRequest:
    """The customer asks to close (through the storefront or an agent). While anything is
    owed the request waits in ``awaiting_payoff`` (30 days); otherwise it is under review
    until an agent has verified the customer's identity."""
    with transaction.atomic(durable=True):
        return open_closure_request(lock_credit_account(account_id), channel=channel, note=note,
                                    acting_user=acting_user, complaint_id=complaint_id,
                                    identity_method=identity_method)


def open_closure_request(account: CreditAccount, *, channel: str, note: str = "", acting_user: Actor = None,
                         complaint_id: int | None = None, identity_method: str = "") -> ClosureRequest:
    """``closure_request_create`` on a locked account, inside the caller's transaction (a
    complaint's remedy)."""
    if not connection.in_atomic_block:
        raise RuntimeError("open_closure_request runs inside the caller's transaction, on a locked account")
    if staff_user(acting_user) is not None:
        _require(acting_user, HANDLE_CLOSURE, _("You may not handle closure requests."))
    if channel not in Channel.values:
        raise ValidationFailed(_("Unknown channel."), details={"channel": [f"choose one of {', '.join(Channel.values)}"]})
    now = clock.now()
    if account.status == AccountStatus.CLOSED:
        raise Conflict(_("The credit account is already closed."), code="account_closed",
                       details={"status": account.status})
    existing = ClosureRequest.objects.filter(account=account, status__in=OPEN_CLOSURE_STATUSES).first()
    if existing is not None:
        raise Conflict(_("A closure request for this account is already open."), code="closure_request_open",
                       details={"closure_request_id": str(existing.pk), "status": existing.status})
    owes = account.outstanding_total > 0
    request = ClosureRequest.objects.create(
        account=account, origin=ClosureOrigin.CUSTOMER, channel=channel, note=(note or "").strip(),
        status=ClosureStatus.AWAITING_PAYOFF if owes else ClosureStatus.UNDER_REVIEW, complaint_id=complaint_id,
        payoff_expires_at=deadlines.payoff_expires_at(now) if owes else None,
        created_by=staff_user(acting_user))
    _request_audit(request, action="created", acting_user=acting_user, reason_text=request.note,
                   after={"outstanding": f"{account.outstanding_total:.2f}"})
    verifier = staff_user(acting_user)
    if identity_method.strip() and verifier is not None:
        _verify_identity(request, account, method=identity_method, acting_user=verifier)
    return request


def _verify_identity(request: ClosureRequest, account: CreditAccount, *, method: str,
                     acting_user: StaffUser) -> None:
    before = _request_snapshot(request)
    request.identity_verified_at = clock.now()
    request.identity_verified_by = acting_user
    request.identity_method = method.strip()[:200]
    request.save(update_fields=["identity_verified_at", "identity_verified_by", "identity_method", "updated_at"])
    _request_audit(request, action="identity_verified", acting_user=acting_user, before=before,
                   reason_text=request.identity_method)
    if request.status == ClosureStatus.UNDER_REVIEW:
        _decide(request, account, acting_user=acting_user)


def closure_request_verify_identity(*, request_id: int, method: str,
                                   acting_user: Actor) -> ClosureRequest:
    """The agent records how the customer's identity was verified. A request with nothing
    owed is then decided at once (risk check)."""
    acting_user = require_staff(acting_user, HANDLE_CLOSURE, _("You may not handle closure requests."))
    required_text(method, "method", _("Say how the identity was verified."))
    with transaction.atomic(durable=True):
        account, request = _locked_request(request_id)
        if not request.is_open:
            raise Conflict(_("A closure request that is %(status)s cannot be changed.") % {
                               "status": request.get_status_display()},
                           code="invalid_transition", details={"status": request.status, "action": "verify"})
        if request.identity_verified_at is not None:
            raise Conflict(_("The identity was already verified."), code="identity_already_verified")
        _verify_identity(request, account, method=method, acting_user=acting_user)
    return request


def _payment_in_flight(account: CreditAccount) -> bool:
    return PaymentAttempt.objects.filter(account=account,
                                         status__in=[AttemptStatus.SUBMITTED, AttemptStatus.UNKNOWN]).exists()


def _risk_check(account: CreditAccount) -> list[dict[str, Any]]:
    """No open dispute, not frozen (docs/rules.md §9). A credit balance never blocks a closure:
    it is paid out as the account closes."""
    found = []
    if account.status == AccountStatus.FROZEN:
        found.append(reason("ACCOUNT_FROZEN", detail="account frozen"))
    disputes = list(Complaint.objects.filter(Q(account=account) | Q(customer_id=account.customer_id),
                                             category__in=DISPUTE_CATEGORIES, status__in=OPEN_COMPLAINT_STATUSES)
                    .values_list("pk", flat=True))
    if disputes:
        found.append(reason("OPEN_DISPUTE", detail=f"open dispute complaint(s) {', '.join(map(str, disputes))}"))
    return found


def _decide(request: ClosureRequest, account: CreditAccount, *, acting_user: Actor) -> str:
    """Risk check of a request under review (account and request locked). Something owed →
    back to awaiting payoff; a payment still in flight → wait; else approve or reject."""
    before = _request_snapshot(request)
    now = clock.now()
    if account.outstanding_total > 0 and account.credit_balance > 0:  # the customer's own money pays first
        today = business_date_get()
        book_repayments(credit_balance_payments([account], today=today, whole_debt=True), today=today)
    if account.outstanding_total > 0:
        request.wait_for_payoff()
        request.payoff_expires_at = request.payoff_expires_at or deadlines.payoff_expires_at(now)
        request.save(update_fields=["status", "payoff_expires_at", "updated_at"])
        _request_audit(request, action="awaiting_payoff", acting_user=acting_user, before=before,
                       after={"outstanding": f"{account.outstanding_total:.2f}"})
        return request.status
    if _payment_in_flight(account):
        return "waiting_for_payment"
    reasons = _risk_check(account)
    request.decided_at = now
    request.decided_by = staff_user(acting_user)
    if reasons:
        request.reject()
        request.reasons = reasons
        request.save(update_fields=["status", "reasons", "decided_at", "decided_by", "updated_at"])
        _request_audit(request, action="rejected", acting_user=acting_user, before=before,
                       reason_text=", ".join(r["code"] for r in reasons))
        _notify_closure(request, account, kind="closure_refused")
        return request.status
    request.approve()
    request.reasons = [reason("CLOSURE_APPROVED")]
    request.save(update_fields=["status", "reasons", "decided_at", "decided_by", "updated_at"])
    _close_account(account, reason_code="CUSTOMER_REQUEST", note=f"closure request #{request.pk}",
                   acting_user=acting_user)
    payout_at_closure(account, acting_user=acting_user)
    _request_audit(request, action="approved", acting_user=acting_user, before=before)
    _notify_closure(request, account, kind="closure_done")
    return request.status


def _notify_closure(request: ClosureRequest, account: CreditAccount, *, kind: str) -> None:
    notification_enqueue(
        customer=account.customer, account=account, kind=kind, event_key=f"closure:{request.pk}:{request.status}",
        params={"closure_request_id": str(request.pk), "status": request.status,
                "reasons": [{"code": r["code"], "message": r["message"]} for r in request.reasons]})


def _close_account(account: CreditAccount, *, reason_code: str, note: str, acting_user: Actor) -> None:
    """The account closes; no limit remains; collection of anything owed continues."""
    credit_line.close(account, reason_code=reason_code, note=note, acting_user=acting_user,
                      policy_version_id=active_policy().pk)


def closure_request_decide(*, request_id: int, acting_user: Actor) -> ClosureRequest:
    """Run the risk check of a request under review whose identity is verified."""
    _require(acting_user, HANDLE_CLOSURE, _("You may not handle closure requests."))
    with transaction.atomic(durable=True):
        account, request = _locked_request(request_id)
        if request.status != ClosureStatus.UNDER_REVIEW:
            raise Conflict(_("A closure request that is %(status)s cannot be decided.") % {
                               "status": request.get_status_display()},
                           code="invalid_transition", details={"status": request.status, "action": "decide"})
        if request.identity_verified_at is None:
            raise BusinessRuleRefused(_("Verify the customer's identity first."), code="identity_not_verified")
        if account.outstanding_total <= 0 and _payment_in_flight(account):
            raise BusinessRuleRefused(_("A payment of this account is still being settled; try again later."),
                                      code="payment_in_flight")
        _decide(request, account, acting_user=acting_user)
    return request


def closure_request_withdraw(*, request_id: int, note: str, acting_user: Actor) -> ClosureRequest:
    acting_user = require_staff(acting_user, HANDLE_CLOSURE, _("You may not handle closure requests."))
    text = required_text(note, "note", _("Say why the request is withdrawn."))
    with transaction.atomic(durable=True):
        _account, request = _locked_request(request_id)
        before = _request_snapshot(request)
        move(request, "withdraw", action=pgettext_lazy("transition", "withdrawn"))
        request.decided_at = clock.now()
        request.decided_by = acting_user
        request.reasons = [reason("WITHDRAWN", detail=text)]
        request.save(update_fields=["status", "decided_at", "decided_by", "reasons", "updated_at"])
        _request_audit(request, action="withdrawn", acting_user=acting_user, before=before, reason_text=text)
    return request


def closure_request_accept_alternative(*, request_id: int, alternative: str, note: str,
                                       acting_user: Actor,
                                       new_limit: Decimal | None = None) -> ClosureRequest:
    """The customer accepts an alternative instead of closing: a lower limit, or a pause
    (account suspended at the customer's request, resumable). The request is withdrawn."""
    acting_user = require_staff(acting_user, HANDLE_CLOSURE, _("You may not handle closure requests."))
    if alternative not in Alternative.values:
        raise ValidationFailed(_("Unknown alternative."),
                               details={"alternative": [f"choose one of {', '.join(Alternative.values)}"]})
    with transaction.atomic(durable=True):
        account, request = _locked_request(request_id)
        before = _request_snapshot(request)
        if not can_proceed(request.withdraw):
            raise Conflict(_("A closure request that is %(status)s cannot be changed.") % {
                               "status": request.get_status_display()},
                           code="invalid_transition", details={"status": request.status, "action": "alternative"})
        if alternative == Alternative.LOWER_LIMIT:
            detail = _lower_limit(account, new_limit=new_limit, request=request, note=note, acting_user=acting_user)
        else:
            detail = credit_line.pause(account, note=note or f"closure request #{request.pk}",
                                       acting_user=acting_user, grace_days=active_policy().parsed.grace_days)
        request.withdraw()
        request.alternative = alternative
        request.alternative_detail = detail
        request.decided_at = clock.now()
        request.decided_by = acting_user
        request.save(update_fields=["status", "alternative", "alternative_detail", "decided_at", "decided_by",
                                    "updated_at"])
        _request_audit(request, action="alternative_accepted", acting_user=acting_user, before=before,
                       reason_text=note, after={"alternative": alternative, **detail})
    return request


def _lower_limit(account: CreditAccount, *, new_limit: Decimal | None, request: ClosureRequest, note: str,
                 acting_user: StaffUser) -> dict[str, str]:
    try:
        limit = to_money(new_limit) if new_limit is not None else None
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(_("The new limit must be money."), details={"new_limit": [str(exc)]}) from exc
    policy = active_policy()
    step = policy.parsed.limit_rounding
    if limit is None or limit <= 0 or limit >= account.credit_limit or limit % step != 0:
        raise ValidationFailed(_("The new limit must be positive, lower than %(limit)s and a multiple of %(step)s.") % {
                               "limit": account.credit_limit, "step": step}, details={"new_limit": [_("invalid")]})
    old = credit_line.set_limit(account, new_limit=limit, reason_code="CUSTOMER_REQUEST",
                                note=note or f"alternative to closure request #{request.pk}",
                                policy_version_id=policy.pk, acting_user=acting_user,
                                notify_key=f"closure:{request.pk}:lower-limit")
    return {"old_limit": f"{old:.2f}", "new_limit": f"{limit:.2f}"}


def account_pause(*, account_id: int, note: str, acting_user: Actor) -> CreditAccount:
    """Pause a credit line at the customer's request (no purchases until resumed)."""
    _require(acting_user, HANDLE_CLOSURE, _("You may not pause credit lines."))
    text = required_text(note, "note", _("Say why the credit line is paused."))
    grace_days = active_policy().parsed.grace_days
    with transaction.atomic(durable=True):
        account = lock_credit_account(account_id)
        credit_line.pause(account, note=text, acting_user=acting_user, grace_days=grace_days)
    return account


def account_resume(*, account_id: int, note: str, acting_user: Actor) -> CreditAccount:
    """End a customer's pause. The account is active again unless something is overdue (then
    the nightly close reactivates it once nothing is)."""
    _require(acting_user, HANDLE_CLOSURE, _("You may not resume credit lines."))
    text = required_text(note, "note", _("Say why the credit line is resumed."))
    grace_days = active_policy().parsed.grace_days
    with transaction.atomic(durable=True):
        account = lock_credit_account(account_id)
        credit_line.resume(account, note=text, acting_user=acting_user, grace_days=grace_days)
    return account


def account_close_for_cause(*, account_id: int, reason_code: str, note: str,
                            acting_user: Actor) -> ClosureRequest:
    """System closure by a risk manager: confirmed fraud or a breach of terms (reason and note
    required). An open customer request is withdrawn; collection of anything owed continues."""
    acting_user = require_staff(acting_user, CLOSE_FOR_CAUSE,
                                _("Only a risk manager may close credit accounts for cause."))
    allowed = [code for code, _label in SYSTEM_CLOSURE_CODES]
    errors: dict[str, list[str]] = {}
    if reason_code not in allowed:
        errors["reason_code"] = [f"choose one of {', '.join(allowed)}"]
    if not isinstance(note, str) or not note.strip():
        errors["note"] = ["this field is required"]
    if errors:
        raise ValidationFailed(_("A system closure needs a reason code and a note."), details=errors)
    with transaction.atomic(durable=True):
        account = lock_credit_account(account_id)
        if account.status == AccountStatus.CLOSED:
            raise Conflict(_("The credit account is already closed."), code="account_closed")
        for open_request in ClosureRequest.objects.select_for_update().filter(account=account,
                                                                              status__in=OPEN_CLOSURE_STATUSES):
            before = _request_snapshot(open_request)
            open_request.withdraw()
            open_request.reasons = [reason("WITHDRAWN", detail=f"superseded by system closure {reason_code}")]
            open_request.decided_at = clock.now()
            open_request.decided_by = acting_user
            open_request.save(update_fields=["status", "reasons", "decided_at", "decided_by", "updated_at"])
            _request_audit(open_request, action="withdrawn", acting_user=acting_user, before=before,
                           reason_text=f"superseded by system closure {reason_code}")
        request = ClosureRequest.objects.create(account=account, origin=ClosureOrigin.SYSTEM, note=note.strip(),
                                                created_by=acting_user)
        request.approve()
        request.reasons = [reason(reason_code, detail=note.strip())]
        request.decided_at = clock.now()
        request.decided_by = acting_user
        request.save(update_fields=["status", "reasons", "decided_at", "decided_by", "updated_at"])
        _close_account(account, reason_code=reason_code, note=note.strip(), acting_user=acting_user)
        _request_audit(request, action="system_closure", acting_user=acting_user, reason_text=note.strip(),
                       after={"reason_code": reason_code})
        _notify_closure(request, account, kind="closure_done")
    return request


@dataclass(frozen=True)
class AdvanceResult:
    proceeded: int = 0
    approved: int = 0
    rejected: int = 0
    expired: int = 0

    @property
    def changed(self) -> int:
        """State changes made (a request paid off and approved in one sweep counts twice)."""
        return self.proceeded + self.approved + self.rejected + self.expired


def closure_requests_advance(*, now: datetime | None = None) -> AdvanceResult:
    """Sweep (nightly and frequent): a request awaiting payoff whose balance is paid goes on to
    review — and, when the identity is verified, to its decision; one not paid within 30 days
    expires; a verified request still waiting for a payment to settle is decided again."""
    now = now or clock.now()
    proceeded = approved = rejected = expired = 0
    ids = list(ClosureRequest.objects.filter(
        Q(status=ClosureStatus.AWAITING_PAYOFF)
        | Q(status=ClosureStatus.UNDER_REVIEW, identity_verified_at__isnull=False)).order_by("id")
        .values_list("id", flat=True))
    for request_id in ids:
        with transaction.atomic(durable=True):  # each request is its own unit of work
            account, request = _locked_request(request_id)
            if request.status == ClosureStatus.AWAITING_PAYOFF:
                if account.outstanding_total > 0:
                    if request.payoff_expires_at is not None and request.payoff_expires_at <= now:
                        before = _request_snapshot(request)
                        request.expire()
                        request.reasons = [reason("PAYOFF_NOT_RECEIVED",
                                                  detail=f"{account.outstanding_total} still owed")]
                        request.decided_at = now
                        request.save(update_fields=["status", "reasons", "decided_at", "updated_at"])
                        _request_audit(request, action="expired", acting_user=None, before=before)
                        _notify_closure(request, account, kind="closure_refused")
                        expired += 1
                    continue
                before = _request_snapshot(request)
                request.payoff_complete()
                request.save(update_fields=["status", "updated_at"])
                _request_audit(request, action="payoff_complete", acting_user=None, before=before)
                proceeded += 1
            if request.status == ClosureStatus.UNDER_REVIEW and request.identity_verified_at is not None:
                outcome = _decide(request, account, acting_user=None)
                approved += outcome == ClosureStatus.APPROVED
                rejected += outcome == ClosureStatus.REJECTED
    return AdvanceResult(proceeded=proceeded, approved=approved, rejected=rejected, expired=expired)
