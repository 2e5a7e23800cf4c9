"""Writes of complaints, remedies and closure requests (DOMAIN.md §9–10).

Every public service takes keyword-only arguments and ``acting_user`` (None only for the
system or the storefront), checks the permission itself, runs in one transaction, writes
its audit row in that transaction, and writes notifications to the outbox (delivered after
commit). A refusal raises an ``ApplicationError`` before anything is written, or rolls the
transaction back: refusals change nothing. Rows are locked credit account first, then the
complaint or closure request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import can_proceed

from accounts import services as account_services
from accounts.errors import BusinessRuleRefused, Conflict, NotFound, PermissionRefused, ValidationFailed
from accounts.errors import require_permission as _require
from accounts.ledger import Leg, available_limit_for, lock_credit_account, post_entry
from accounts.models import AccountStatus, Book, CreditAccount, Customer
from accounts.money import ZERO, to_money
from installments.models import AttemptStatus, Installment, InstallmentState, PaymentAttempt, Penalty, RestorationHold
from risk.selectors import active_policy

from . import deadlines
from .models import (
    DISPUTE_CATEGORIES,
    OPEN_CLOSURE_STATUSES,
    OPEN_COMPLAINT_STATUSES,
    Alternative,
    Category,
    Channel,
    ClosureOrigin,
    ClosureRequest,
    ClosureStatus,
    Complaint,
    ComplaintMessage,
    ComplaintStatus,
    MessageKind,
    Waiver,
    WaiverKind,
    WaiverStatus,
)
from .reasons import SYSTEM_CLOSURE_CODES, reason

HANDLE_COMPLAINT = "complaints.handle_complaint"
REASSIGN_COMPLAINT = "complaints.reassign_complaint"
EXTEND_DEADLINE = "complaints.extend_deadline"
APPROVE_WAIVER = "complaints.approve_waiver"
HANDLE_CLOSURE = "complaints.handle_closure"
CLOSE_FOR_CAUSE = "accounts.close_account"
RELEASE_HOLD = "installments.release_restorationhold"

# An agent may waive up to this much on one waiver; above it a supervisor approves.
AGENT_WAIVER_LIMIT = Decimal("100.00")

# Statuses in which the agent works the complaint (replies, remedies).
WORKING_STATUSES = (ComplaintStatus.IN_PROGRESS, ComplaintStatus.AWAITING_CUSTOMER)


# --- helpers ---------------------------------------------------------------------------------


def _user_id(user: AbstractBaseUser | None) -> int | None:
    return getattr(user, "pk", None)


def _staff_or_none(user: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return user if _user_id(user) else None


def _required_text(value: str, field: str, message: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(message, details={field: [_("this field is required")]})
    return value.strip()


def _move(obj: Any, transition_name: str, *, action: str) -> None:
    """Run a state-machine transition or refuse with 409 ``invalid_transition``."""
    method = getattr(obj, transition_name)
    if not can_proceed(method):
        raise Conflict(_("A %(object)s that is %(status)s cannot be %(action)s.") % {
                           "object": obj._meta.verbose_name, "status": obj.get_status_display(), "action": action},
                       code="invalid_transition", details={"status": obj.status, "action": transition_name})
    method()


def _complaint_account_id(complaint_id: int) -> int | None:
    row = Complaint.objects.filter(pk=complaint_id).values_list("account_id", flat=True)
    if not row.exists():
        raise NotFound(_("No such complaint."))
    return row.first()


def _locked_complaint(complaint_id: int) -> Complaint:
    complaint = (Complaint.objects.select_for_update(of=("self",)).select_related("customer", "account")
                 .filter(pk=complaint_id).first())
    if complaint is None:
        raise NotFound(_("No such complaint."))
    return complaint


def _require_handler(complaint: Complaint, user: AbstractBaseUser | None) -> None:
    """The assignee works the complaint; a supervisor may step in."""
    _require(user, HANDLE_COMPLAINT, _("You may not handle complaints."))
    if complaint.assigned_to_id not in (None, user.pk) and not user.has_perm(REASSIGN_COMPLAINT):
        raise PermissionRefused(_("This complaint is assigned to another agent."))
    if complaint.assigned_to_id is None and complaint.status != ComplaintStatus.NEW \
            and not user.has_perm(REASSIGN_COMPLAINT):
        raise PermissionRefused(_("This complaint is not assigned to you."))


def _iso(value: datetime | None) -> str | None:
    """A timestamp in local time (Asia/Shanghai) for audit rows and notification parameters."""
    return timezone.localtime(value).isoformat() if value is not None else None


def _snapshot(complaint: Complaint) -> dict[str, Any]:
    return {"status": complaint.status, "assigned_to": complaint.assigned_to_id,
            "respond_by": _iso(complaint.respond_by)}


def _refresh_next_due(complaint: Complaint) -> None:
    complaint.next_due_at = deadlines.next_due(
        acknowledged=complaint.acknowledged_at is not None, acknowledge_by_at=complaint.acknowledge_by,
        respond_by_at=complaint.respond_by, open_=complaint.is_open)


def _end_pause(complaint: Complaint, now: datetime) -> None:
    if complaint.paused_since is None:
        return
    complaint.internal_paused = deadlines.paused_total(complaint.internal_paused,
                                                       paused_since=complaint.paused_since, resumed_at=now)
    complaint.paused_since = None
    complaint.internal_target_at = deadlines.internal_target(complaint.round_started_at,
                                                             paused=complaint.internal_paused)


def _audit(complaint: Complaint, *, action: str, acting_user: AbstractBaseUser | None,
           before: dict | None = None, reason_text: str = "", after: dict | None = None) -> None:
    account_services.audit_record(acting_user=acting_user, action=f"complaint.{action}", obj=complaint,
                                  before=before, after={**_snapshot(complaint), **(after or {})}, reason=reason_text)


def _notify(complaint: Complaint, *, kind: str, event_key: str, params: dict[str, Any]) -> None:
    account_services.notification_enqueue(customer=complaint.customer, account=complaint.account, kind=kind,
                                          event_key=event_key, params={"complaint_id": str(complaint.pk), **params})


# --- complaints --------------------------------------------------------------------------------


def complaint_file(*, customer_external_id: str, category: str, channel: str, description: str,
                   account_id: int | None = None, acting_user: AbstractBaseUser | None = None) -> Complaint:
    """Record a complaint (from the storefront, or by an agent taking a call). The regulatory
    clock starts now. Without ``account_id`` the customer's credit account, if any, is used."""
    if acting_user is not None:
        _require(acting_user, HANDLE_COMPLAINT, _("You may not record complaints."))
    errors: dict[str, list[str]] = {}
    if category not in Category.values:
        errors["category"] = [f"choose one of {', '.join(Category.values)}"]
    if channel not in Channel.values:
        errors["channel"] = [f"choose one of {', '.join(Channel.values)}"]
    if not isinstance(description, str) or not description.strip():
        errors["description"] = ["this field is required"]
    if errors:
        raise ValidationFailed(_("Invalid complaint: %(fields)s.") % {"fields": ", ".join(sorted(errors))}, details=errors)
    customer = Customer.objects.filter(external_id=customer_external_id).first()
    if customer is None:
        raise ValidationFailed(_("There is no customer with this store customer id."),
                               details={"customer_external_id": [_("no such customer")]})
    account = CreditAccount.objects.filter(customer=customer).first()
    if account_id is not None and (account is None or account.pk != account_id):
        raise ValidationFailed(_("The credit account does not belong to this customer."),
                               details={"account_id": [_("not an account of this customer")]})
    now = timezone.now()
    clock = deadlines.new_complaint_clock(now)
    with transaction.atomic():
        complaint = Complaint.objects.create(
            customer=customer, account=account, category=category, channel=channel,
            description=description.strip(), received_at=now, acknowledge_by=clock.acknowledge_by,
            round_started_at=now, respond_by=clock.respond_by, internal_target_at=clock.internal_target_at,
            next_due_at=clock.acknowledge_by, created_by=_staff_or_none(acting_user))
        _audit(complaint, action="filed", acting_user=acting_user,
               after={"category": category, "channel": channel, "account": account.pk if account else None})
    return complaint


def complaint_assign(*, complaint_id: int, assignee: AbstractBaseUser, acting_user: AbstractBaseUser,
                     note: str = "") -> Complaint:
    """An agent takes a new complaint; a supervisor assigns or reassigns to any agent."""
    _require(acting_user, HANDLE_COMPLAINT, _("You may not handle complaints."))
    if not (assignee.is_active and assignee.is_staff and assignee.has_perm(HANDLE_COMPLAINT)):
        raise ValidationFailed(_("The assignee cannot handle complaints."),
                               details={"assignee": [_("not an active complaints agent")]})
    with transaction.atomic():
        complaint = _locked_complaint(complaint_id)
        taking_new = complaint.status == ComplaintStatus.NEW and assignee.pk == acting_user.pk
        if not taking_new:
            _require(acting_user, REASSIGN_COMPLAINT, _("Only a supervisor may assign or reassign complaints."))
        before = _snapshot(complaint)
        if complaint.status == ComplaintStatus.NEW:
            _move(complaint, "assign", action=pgettext_lazy("transition", "assigned"))
        elif complaint.is_open:
            if complaint.assigned_to_id == assignee.pk:
                raise Conflict(_("The complaint is already assigned to this agent."), code="already_assigned")
        else:
            raise Conflict(_("A complaint that is %(status)s cannot be reassigned.") % {
                               "status": complaint.get_status_display()},
                           code="invalid_transition", details={"status": complaint.status, "action": "assign"})
        complaint.assigned_to = assignee
        complaint.assigned_at = timezone.now()
        complaint.save()
        _audit(complaint, action="assigned" if before["assigned_to"] is None else "reassigned",
               acting_user=acting_user, before=before, reason_text=note)
    return complaint


def complaint_start(*, complaint_id: int, acting_user: AbstractBaseUser) -> Complaint:
    """The assignee starts work: the complaint is acknowledged and the customer told by when
    the final response will come."""
    with transaction.atomic():
        complaint = _locked_complaint(complaint_id)
        _require_handler(complaint, acting_user)
        before = _snapshot(complaint)
        _move(complaint, "start", action=pgettext_lazy("transition", "started"))
        now = timezone.now()
        complaint.acknowledged_at = complaint.acknowledged_at or now
        _refresh_next_due(complaint)
        complaint.save()
        _audit(complaint, action="acknowledged", acting_user=acting_user, before=before,
               after={"acknowledged_at": _iso(complaint.acknowledged_at)})
        _notify(complaint, kind="complaint_acknowledged", event_key=f"complaint:{complaint.pk}:acknowledged",
                params={"category": complaint.category, "respond_by": _iso(complaint.respond_by)})
    return complaint


def complaint_reply(*, complaint_id: int, body: str, acting_user: AbstractBaseUser,
                    await_customer: bool = False) -> ComplaintMessage:
    """A reply to the customer (notified). With ``await_customer`` the complaint waits for the
    customer's answer: the internal target pauses, the regulatory clock does not."""
    text = _required_text(body, "body", _("Write the reply."))
    with transaction.atomic():
        complaint = _locked_complaint(complaint_id)
        _require_handler(complaint, acting_user)
        if complaint.status not in WORKING_STATUSES:
            raise Conflict(_("A complaint that is %(status)s cannot be answered; start it first.") % {
                               "status": complaint.get_status_display()},
                           code="invalid_transition", details={"status": complaint.status, "action": "reply"})
        before = _snapshot(complaint)
        now = timezone.now()
        if await_customer and complaint.status == ComplaintStatus.IN_PROGRESS:
            _move(complaint, "await_customer", action=pgettext_lazy("transition", "set to await the customer"))
            complaint.paused_since = now
            complaint.save()
        message = ComplaintMessage.objects.create(complaint=complaint, kind=MessageKind.REPLY, body=text,
                                                  author=acting_user)
        _audit(complaint, action="answered", acting_user=acting_user, before=before,
               after={"message": message.pk, "awaiting_customer": complaint.status == ComplaintStatus.AWAITING_CUSTOMER})
        _notify(complaint, kind="complaint_answered", event_key=f"complaint-reply:{message.pk}",
                params={"message": text})
    return message


def complaint_record_customer_message(*, complaint_id: int, body: str,
                                      acting_user: AbstractBaseUser | None) -> ComplaintMessage:
    """What the customer said (recorded by an agent). A complaint awaiting the customer goes
    back to work and its internal target resumes."""
    text = _required_text(body, "body", _("Write what the customer said."))
    if acting_user is not None:
        _require(acting_user, HANDLE_COMPLAINT, _("You may not handle complaints."))
    with transaction.atomic():
        complaint = _locked_complaint(complaint_id)
        if not complaint.is_open:
            raise Conflict(_("A complaint that is %(status)s takes no more messages; reopen it first.") % {
                               "status": complaint.get_status_display()},
                           code="invalid_transition", details={"status": complaint.status, "action": "message"})
        before = _snapshot(complaint)
        if complaint.status == ComplaintStatus.AWAITING_CUSTOMER:
            _move(complaint, "resume", action=pgettext_lazy("transition", "resumed"))
            _end_pause(complaint, timezone.now())
            complaint.save()
        message = ComplaintMessage.objects.create(complaint=complaint, kind=MessageKind.CUSTOMER, body=text,
                                                  author=_staff_or_none(acting_user))
        _audit(complaint, action="customer_message", acting_user=acting_user, before=before,
               after={"message": message.pk})
    return message


def complaint_add_note(*, complaint_id: int, body: str, acting_user: AbstractBaseUser) -> ComplaintMessage:
    """An internal note (never shown to the customer)."""
    text = _required_text(body, "body", _("Write the note."))
    _require(acting_user, HANDLE_COMPLAINT, _("You may not handle complaints."))
    with transaction.atomic():
        complaint = _locked_complaint(complaint_id)
        message = ComplaintMessage.objects.create(complaint=complaint, kind=MessageKind.NOTE, body=text,
                                                  author=acting_user)
        _audit(complaint, action="note_added", acting_user=acting_user, after={"message": message.pk})
    return message


def complaint_resolve(*, complaint_id: int, resolution: str, acting_user: AbstractBaseUser) -> Complaint:
    """The final response to the customer. The complaint closes itself 7 days later unless reopened."""
    text = _required_text(resolution, "resolution", _("Write the final response to the customer."))
    with transaction.atomic():
        complaint = _locked_complaint(complaint_id)
        _require_handler(complaint, acting_user)
        before = _snapshot(complaint)
        _move(complaint, "resolve", action=pgettext_lazy("transition", "resolved"))
        now = timezone.now()
        _end_pause(complaint, now)
        complaint.resolution = text
        complaint.resolved_at = now
        complaint.resolved_by = acting_user
        _refresh_next_due(complaint)
        complaint.save()
        ComplaintMessage.objects.create(complaint=complaint, kind=MessageKind.REPLY, body=text, author=acting_user)
        _audit(complaint, action="resolved", acting_user=acting_user, before=before, reason_text=text,
               after={"on_time": now <= complaint.respond_by})
        _notify(complaint, kind="complaint_resolved",
                event_key=f"complaint:{complaint.pk}:resolved:{complaint.round}", params={"resolution": text})
    return complaint


def complaint_reopen(*, complaint_id: int, note: str, acting_user: AbstractBaseUser) -> Complaint:
    """A resolved complaint goes back to work (the customer disagrees). A new round starts:
    a fresh 15-day final-response deadline, which may be extended once."""
    text = _required_text(note, "note", _("Say why the complaint is reopened."))
    with transaction.atomic():
        complaint = _locked_complaint(complaint_id)
        _require_handler(complaint, acting_user)
        before = _snapshot(complaint)
        _move(complaint, "reopen", action=pgettext_lazy("transition", "reopened"))
        now = timezone.now()
        complaint.round += 1
        complaint.reopened_count += 1
        complaint.round_started_at = now
        complaint.respond_by = deadlines.respond_by(now, extended=False)
        complaint.extended_at = None
        complaint.extended_by = None
        complaint.extension_reason = ""
        complaint.internal_paused = timedelta(0)
        complaint.paused_since = None
        complaint.internal_target_at = deadlines.internal_target(now, paused=timedelta(0))
        complaint.response_breached = False
        complaint.resolution = ""
        complaint.resolved_at = None
        complaint.resolved_by = None
        _refresh_next_due(complaint)
        complaint.save()
        ComplaintMessage.objects.create(complaint=complaint, kind=MessageKind.NOTE, body=text, author=acting_user)
        _audit(complaint, action="reopened", acting_user=acting_user, before=before, reason_text=text,
               after={"round": complaint.round})
    return complaint


def complaint_extend_deadline(*, complaint_id: int, reason_text: str, acting_user: AbstractBaseUser) -> Complaint:
    """Extend the final-response deadline of this round from 15 to 30 days (once), with the
    supervisor's approval and reason recorded; the customer is told."""
    _require(acting_user, EXTEND_DEADLINE, _("Only a supervisor may extend a complaint's deadline."))
    text = _required_text(reason_text, "reason", _("Say why the deadline is extended."))
    with transaction.atomic():
        complaint = _locked_complaint(complaint_id)
        if not complaint.is_open:
            raise Conflict(_("A complaint that is %(status)s has no deadline to extend.") % {
                               "status": complaint.get_status_display()},
                           code="invalid_transition", details={"status": complaint.status, "action": "extend"})
        now = timezone.now()
        if complaint.extended:
            raise Conflict(_("The deadline was already extended once."), code="already_extended")
        if not deadlines.can_extend(already_extended=False, respond_by_at=complaint.respond_by, now=now):
            raise Conflict(_("The final-response deadline has already passed; it can no longer be extended."),
                           code="deadline_passed", details={"respond_by": _iso(complaint.respond_by)})
        before = _snapshot(complaint)
        complaint.respond_by = deadlines.respond_by(complaint.round_started_at, extended=True)
        complaint.extended_at = now
        complaint.extended_by = acting_user
        complaint.extension_reason = text
        _refresh_next_due(complaint)
        complaint.save()
        _audit(complaint, action="deadline_extended", acting_user=acting_user, before=before, reason_text=text)
        _notify(complaint, kind="complaint_deadline_extended",
                event_key=f"complaint:{complaint.pk}:extended:{complaint.round}",
                params={"respond_by": _iso(complaint.respond_by)})
    return complaint


def complaints_escalate_breaches(*, now: datetime | None = None) -> int:
    """Flag every missed regulatory deadline once and escalate the complaint to the
    supervisors' queue (the nightly close and the frequent sweep call this). Returns the
    number of breaches flagged."""
    now = now or timezone.now()
    flagged = 0
    with transaction.atomic():
        late_ack = (Complaint.objects.select_for_update(skip_locked=True)
                    .filter(acknowledge_breached=False, acknowledge_by__lt=now)
                    .filter(Q(acknowledged_at__isnull=True) | Q(acknowledged_at__gt=F("acknowledge_by"))))
        for complaint in late_ack:
            flagged += _escalate(complaint, now=now, breach="acknowledge")
        late_response = (Complaint.objects.select_for_update(skip_locked=True)
                         .filter(response_breached=False, respond_by__lt=now)
                         .filter(Q(status__in=OPEN_COMPLAINT_STATUSES) | Q(resolved_at__gt=F("respond_by"))))
        for complaint in late_response:
            flagged += _escalate(complaint, now=now, breach="response")
    return flagged


def _escalate(complaint: Complaint, *, now: datetime, breach: str) -> int:
    before = _snapshot(complaint)
    if breach == "acknowledge":
        complaint.acknowledge_breached = True
        deadline = complaint.acknowledge_by
    else:
        complaint.response_breached = True
        deadline = complaint.respond_by
    complaint.escalated = True
    complaint.escalated_at = complaint.escalated_at or now
    complaint.save(update_fields=["acknowledge_breached", "response_breached", "escalated", "escalated_at",
                                  "updated_at"])
    _audit(complaint, action="escalated", acting_user=None, before=before,
           reason_text=f"{breach} deadline {_iso(deadline)} breached",
           after={"breach": breach, "deadline": _iso(deadline)})
    return 1


def complaints_close_resolved(*, now: datetime | None = None) -> int:
    """Close complaints resolved 7 days ago or more (not reopened)."""
    now = now or timezone.now()
    closed = 0
    with transaction.atomic():
        for complaint in (Complaint.objects.select_for_update(skip_locked=True)
                          .filter(status=ComplaintStatus.RESOLVED,
                                  resolved_at__lte=now - deadlines.AUTO_CLOSE_AFTER).order_by("id")):
            before = _snapshot(complaint)
            complaint.close()
            complaint.closed_at = now
            complaint.save()
            _audit(complaint, action="closed", acting_user=None, before=before,
                   reason_text="closed automatically 7 days after resolution")
            closed += 1
    return closed


# --- remedies ----------------------------------------------------------------------------------


def _working_complaint_on(account_id: int | None, complaint_id: int, user: AbstractBaseUser) -> Complaint:
    complaint = _locked_complaint(complaint_id)
    _require_handler(complaint, user)
    if complaint.status not in WORKING_STATUSES:
        raise Conflict(_("Remedies are given while the complaint is being worked; it is %(status)s.") % {
                           "status": complaint.get_status_display()},
                       code="invalid_transition", details={"status": complaint.status, "action": "remedy"})
    if account_id is None:
        raise BusinessRuleRefused(_("The complaint is not about a credit account."), code="no_account")
    return complaint


def _waiver_item(account: CreditAccount, kind: str, item_id: int) -> tuple[Installment | None, Penalty | None,
                                                                            Decimal]:
    """The fee or penalty to waive (locked) and what is still owed on it."""
    if kind == WaiverKind.FEE:
        inst = Installment.objects.select_for_update().filter(pk=item_id, account=account).first()
        if inst is None:
            raise ValidationFailed(_("No such installment on this account."), details={"item_id": [_("not found")]})
        owed = inst.fee - inst.fee_paid - inst.fee_waived if inst.fee_posted else ZERO
        return inst, None, owed
    if kind == WaiverKind.PENALTY:
        penalty = Penalty.objects.select_for_update().filter(pk=item_id, account=account).first()
        if penalty is None:
            raise ValidationFailed(_("No such penalty on this account."), details={"item_id": [_("not found")]})
        return None, penalty, penalty.unpaid
    raise ValidationFailed(_("Waive a fee or a penalty."), details={"kind": [_("choose fee or penalty")]})


def _apply_waiver(waiver: Waiver, account: CreditAccount, *, installment: Installment | None,
                  penalty: Penalty | None, acting_user: AbstractBaseUser) -> None:
    """Dr waivers / Cr the receivable, through the one ledger writer, and the item's waived
    amount moves in the same transaction."""
    today = account_services.business_date_get()
    amount = waiver.amount
    if installment is not None:
        installment.fee_waived += amount
        if installment.principal_unpaid == 0 and installment.fee_unpaid == 0 \
                and installment.state == InstallmentState.OPEN:
            installment.state = InstallmentState.PAID
            installment.paid_on = installment.paid_on or today
        installment.save()
        credit = Leg(Book.FEE_RECEIVABLE, -amount, installment.pk)
        kind = "fee_waiver"
    else:
        penalty.amount_waived += amount
        penalty.save(update_fields=["amount_waived"])
        credit = Leg(Book.PENALTY_RECEIVABLE, -amount)
        kind = "penalty_waiver"
    entry, _created = post_entry(account=account, key=f"waiver:{waiver.pk}", kind=kind, business_date=today,
                                 legs=[Leg(Book.WAIVER_EXPENSE, amount), credit], acting_user=acting_user,
                                 description=f"{kind} on complaint #{waiver.complaint_id}")
    waiver.apply()
    waiver.journal_entry = entry
    waiver.decided_by = acting_user
    waiver.decided_at = timezone.now()
    waiver.save()


def complaint_waiver_request(*, complaint_id: int, kind: str, item_id: int, amount: Decimal, reason_text: str,
                             acting_user: AbstractBaseUser) -> Waiver:
    """Waive (part of) a posted fee or a penalty. Up to 100.00 an agent applies it at once;
    above, it waits for a supervisor (``waiver_approve``) — a supervisor's own waiver applies."""
    _require(acting_user, HANDLE_COMPLAINT, _("You may not handle complaints."))
    try:
        amount = to_money(amount)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(_("The amount must be money in fen."), details={"amount": [str(exc)]}) from exc
    if amount <= 0:
        raise ValidationFailed(_("The amount must be positive."), details={"amount": [_("must be greater than 0.00")]})
    text = _required_text(reason_text, "reason", _("Say why the waiver is granted."))
    account_id = _complaint_account_id(complaint_id)
    with transaction.atomic():
        account = lock_credit_account(account_id) if account_id else None
        complaint = _working_complaint_on(account_id, complaint_id, acting_user)
        installment, penalty, owed = _waiver_item(account, kind, item_id)
        if amount > owed:
            raise BusinessRuleRefused(_("The waiver is more than what is owed on this item."),
                                      code="waiver_exceeds_owed", details={"owed": f"{owed:.2f}"})
        waiver = Waiver.objects.create(complaint=complaint, account=account, kind=kind, installment=installment,
                                       penalty=penalty, amount=amount, reason=text, requested_by=acting_user)
        if amount <= AGENT_WAIVER_LIMIT or acting_user.has_perm(APPROVE_WAIVER):
            _apply_waiver(waiver, account, installment=installment, penalty=penalty, acting_user=acting_user)
            action = "applied"
        else:
            action = "requested"
        account_services.audit_record(acting_user=acting_user, action=f"waiver.{action}", obj=waiver,
                                      after={"complaint": complaint.pk, "kind": kind, "item": item_id,
                                             "amount": f"{amount:.2f}", "status": waiver.status},
                                      reason=text)
        _audit(complaint, action=f"waiver_{action}", acting_user=acting_user,
               after={"waiver": waiver.pk, "amount": f"{amount:.2f}"}, reason_text=text)
    return waiver


def _locked_pending_waiver(waiver_id: int) -> tuple[CreditAccount, Waiver]:
    account_id = Waiver.objects.filter(pk=waiver_id).values_list("account_id", flat=True).first()
    if account_id is None:
        raise NotFound(_("No such waiver."))
    account = lock_credit_account(account_id)
    waiver = Waiver.objects.select_for_update().get(pk=waiver_id)
    if waiver.status != WaiverStatus.PENDING:
        raise Conflict(_("This waiver is already %(status)s.") % {"status": waiver.get_status_display()},
                       code="invalid_transition",
                       details={"status": waiver.status})
    return account, waiver


def waiver_approve(*, waiver_id: int, acting_user: AbstractBaseUser, note: str = "") -> Waiver:
    """A supervisor approves a waiver above the agent limit: it is applied now."""
    _require(acting_user, APPROVE_WAIVER, _("Only a supervisor may approve waivers above 100.00."))
    with transaction.atomic():
        account, waiver = _locked_pending_waiver(waiver_id)
        installment, penalty, owed = _waiver_item(account, waiver.kind, waiver.installment_id or waiver.penalty_id)
        if waiver.amount > owed:
            raise BusinessRuleRefused(_("The waiver is more than what is still owed on this item."),
                                      code="waiver_exceeds_owed", details={"owed": f"{owed:.2f}"})
        waiver.decision_note = note
        _apply_waiver(waiver, account, installment=installment, penalty=penalty, acting_user=acting_user)
        account_services.audit_record(acting_user=acting_user, action="waiver.approved", obj=waiver,
                                      before={"status": WaiverStatus.PENDING}, after={"status": waiver.status},
                                      reason=note)
    return waiver


def waiver_reject(*, waiver_id: int, note: str, acting_user: AbstractBaseUser) -> Waiver:
    _require(acting_user, APPROVE_WAIVER, _("Only a supervisor may decide waivers above 100.00."))
    text = _required_text(note, "note", _("Say why the waiver is rejected."))
    with transaction.atomic():
        _account, waiver = _locked_pending_waiver(waiver_id)
        waiver.reject()
        waiver.decided_by = acting_user
        waiver.decided_at = timezone.now()
        waiver.decision_note = text
        waiver.save()
        account_services.audit_record(acting_user=acting_user, action="waiver.rejected", obj=waiver,
                                      before={"status": WaiverStatus.PENDING}, after={"status": waiver.status},
                                      reason=text)
    return waiver


def complaint_release_hold(*, complaint_id: int, hold_id: int, reason_text: str,
                           acting_user: AbstractBaseUser) -> Decimal:
    """Give back a restoration hold now (installments.repayments.holds_release; a supervisor's
    remedy: ``installments.release_restorationhold``)."""
    from installments.repayments import holds_release

    _require(acting_user, HANDLE_COMPLAINT, _("You may not handle complaints."))
    _require(acting_user, RELEASE_HOLD, _("You may not release restoration holds early."))
    text = _required_text(reason_text, "reason", _("Say why the hold is released early."))
    account_id = _complaint_account_id(complaint_id)
    with transaction.atomic():
        account = lock_credit_account(account_id) if account_id else None
        complaint = _working_complaint_on(account_id, complaint_id, acting_user)
        hold = RestorationHold.objects.select_for_update().filter(pk=hold_id, account=account).first()
        if hold is None:
            raise ValidationFailed(_("No such restoration hold on this account."), details={"hold_id": [_("not found")]})
        if hold.released_at is not None:
            raise Conflict(_("This hold was already released."), code="hold_already_released")
        released = holds_release(account_id=account.pk, until=timezone.now(), acting_user=acting_user,
                                 hold_id=hold.pk, reason=f"complaint #{complaint.pk}: {text}")
        _audit(complaint, action="hold_released", acting_user=acting_user, reason_text=text,
               after={"hold": hold.pk, "released": f"{released:.2f}"})
    return released


def complaint_start_closure(*, complaint_id: int, note: str, acting_user: AbstractBaseUser,
                            identity_method: str = "") -> ClosureRequest:
    """Start a closure request for the complaint's account."""
    _require(acting_user, HANDLE_CLOSURE, _("You may not handle closure requests."))
    account_id = _complaint_account_id(complaint_id)
    if account_id is None:
        raise BusinessRuleRefused(_("The complaint is not about a credit account."), code="no_account")
    with transaction.atomic():
        lock_credit_account(account_id)
        complaint = _working_complaint_on(account_id, complaint_id, acting_user)
        request = closure_request_create(account_id=account_id, channel=complaint.channel, note=note,
                                         acting_user=acting_user, complaint_id=complaint.pk,
                                         identity_method=identity_method)
        _audit(complaint, action="closure_started", acting_user=acting_user, reason_text=note,
               after={"closure_request": request.pk})
    return request


# --- closure requests --------------------------------------------------------------------------


def _locked_request(request_id: int) -> tuple[CreditAccount, ClosureRequest]:
    account_id = ClosureRequest.objects.filter(pk=request_id).values_list("account_id", flat=True).first()
    if account_id is None:
        raise NotFound(_("No such closure request."))
    account = lock_credit_account(account_id)
    request = ClosureRequest.objects.select_for_update().get(pk=request_id)
    return account, request


def _request_snapshot(request: ClosureRequest) -> dict[str, Any]:
    return {"status": request.status, "identity_verified": request.identity_verified_at is not None}


def _request_audit(request: ClosureRequest, *, action: str, acting_user: AbstractBaseUser | None,
                   before: dict | None = None, reason_text: str = "", after: dict | None = None) -> None:
    account_services.audit_record(acting_user=acting_user, action=f"closure_request.{action}", obj=request,
                                  before=before, after={**_request_snapshot(request), **(after or {})},
                                  reason=reason_text)


def closure_request_create(*, account_id: int, channel: str, note: str = "",
                           acting_user: AbstractBaseUser | None = None, complaint_id: int | None = None,
                           identity_method: str = "") -> ClosureRequest:
    """The customer asks to close (through the storefront or an agent). While anything is
    owed the request waits in ``awaiting_payoff`` (30 days); otherwise it is under review
    until an agent has verified the customer's identity."""
    if acting_user is not None:
        _require(acting_user, HANDLE_CLOSURE, _("You may not handle closure requests."))
    if channel not in Channel.values:
        raise ValidationFailed(_("Unknown channel."), details={"channel": [f"choose one of {', '.join(Channel.values)}"]})
    now = timezone.now()
    with transaction.atomic():
        account = lock_credit_account(account_id)
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
            created_by=_staff_or_none(acting_user))
        _request_audit(request, action="created", acting_user=acting_user, reason_text=request.note,
                       after={"outstanding": f"{account.outstanding_total:.2f}"})
        if identity_method.strip() and _user_id(acting_user):
            _verify_identity(request, account, method=identity_method, acting_user=acting_user)
    return request


def _verify_identity(request: ClosureRequest, account: CreditAccount, *, method: str,
                     acting_user: AbstractBaseUser) -> None:
    before = _request_snapshot(request)
    request.identity_verified_at = timezone.now()
    request.identity_verified_by = acting_user
    request.identity_method = method.strip()[:200]
    request.save()
    _request_audit(request, action="identity_verified", acting_user=acting_user, before=before,
                   reason_text=request.identity_method)
    if request.status == ClosureStatus.UNDER_REVIEW:
        _decide(request, account, acting_user=acting_user)


def closure_request_verify_identity(*, request_id: int, method: str,
                                   acting_user: AbstractBaseUser) -> ClosureRequest:
    """The agent records how the customer's identity was verified. A request with nothing
    owed is then decided at once (risk check)."""
    _require(acting_user, HANDLE_CLOSURE, _("You may not handle closure requests."))
    _required_text(method, "method", _("Say how the identity was verified."))
    with transaction.atomic():
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
    """DOMAIN.md §9: no open dispute, no pending refund, not frozen."""
    found = []
    if account.status == AccountStatus.FROZEN:
        found.append(reason("ACCOUNT_FROZEN", detail="account frozen"))
    disputes = list(Complaint.objects.filter(Q(account=account) | Q(customer_id=account.customer_id),
                                             category__in=DISPUTE_CATEGORIES, status__in=OPEN_COMPLAINT_STATUSES)
                    .values_list("pk", flat=True))
    if disputes:
        found.append(reason("OPEN_DISPUTE", detail=f"open dispute complaint(s) {', '.join(map(str, disputes))}"))
    if account.credit_balance > 0:
        found.append(reason("PENDING_REFUND", detail=f"credit balance {account.credit_balance} to refund"))
    return found


def _decide(request: ClosureRequest, account: CreditAccount, *, acting_user: AbstractBaseUser | None) -> str:
    """Risk check of a request under review (account and request locked). Something owed →
    back to awaiting payoff; a payment still in flight → wait; else approve or reject."""
    before = _request_snapshot(request)
    now = timezone.now()
    if account.outstanding_total > 0:
        request.wait_for_payoff()
        request.payoff_expires_at = request.payoff_expires_at or deadlines.payoff_expires_at(now)
        request.save()
        _request_audit(request, action="awaiting_payoff", acting_user=acting_user, before=before,
                       after={"outstanding": f"{account.outstanding_total:.2f}"})
        return request.status
    if _payment_in_flight(account):
        return "waiting_for_payment"
    reasons = _risk_check(account)
    request.decided_at = now
    request.decided_by = _staff_or_none(acting_user)
    if reasons:
        request.reject()
        request.reasons = reasons
        request.save()
        _request_audit(request, action="rejected", acting_user=acting_user, before=before,
                       reason_text=", ".join(r["code"] for r in reasons))
        _notify_closure(request, account, kind="closure_refused")
        return request.status
    request.approve()
    request.reasons = [reason("CLOSURE_APPROVED")]
    request.save()
    _close_account(account, reason_code="CUSTOMER_REQUEST", note=f"closure request #{request.pk}",
                   acting_user=acting_user)
    _request_audit(request, action="approved", acting_user=acting_user, before=before)
    _notify_closure(request, account, kind="closure_done")
    return request.status


def _notify_closure(request: ClosureRequest, account: CreditAccount, *, kind: str) -> None:
    account_services.notification_enqueue(
        customer=account.customer, account=account, kind=kind, event_key=f"closure:{request.pk}:{request.status}",
        params={"closure_request_id": str(request.pk), "status": request.status,
                "reasons": [{"code": r["code"], "message": r["message"]} for r in request.reasons]})


def _close_account(account: CreditAccount, *, reason_code: str, note: str,
                   acting_user: AbstractBaseUser | None) -> None:
    """The account's FSM ``close``; no limit remains. Collection of anything owed continues."""
    old_status, old_limit = account.status, account.credit_limit
    account.close()
    account.closed_on = account_services.business_date_get()
    account.closed_reason = reason_code
    account.paused_by_customer = False
    account.credit_limit = ZERO
    account.available_limit = ZERO
    account.save()
    account_services.record_status_change(account, from_status=old_status, reason_code=reason_code, note=note,
                                          acting_user=acting_user)
    if old_limit != ZERO:
        account_services.record_limit_change(account, old_limit=old_limit, reason_code=reason_code, note=note,
                                             policy_version_id=active_policy().pk, acting_user=acting_user)


def closure_request_decide(*, request_id: int, acting_user: AbstractBaseUser) -> ClosureRequest:
    """Run the risk check of a request under review whose identity is verified."""
    _require(acting_user, HANDLE_CLOSURE, _("You may not handle closure requests."))
    with transaction.atomic():
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


def closure_request_withdraw(*, request_id: int, note: str, acting_user: AbstractBaseUser) -> ClosureRequest:
    _require(acting_user, HANDLE_CLOSURE, _("You may not handle closure requests."))
    text = _required_text(note, "note", _("Say why the request is withdrawn."))
    with transaction.atomic():
        _account, request = _locked_request(request_id)
        before = _request_snapshot(request)
        _move(request, "withdraw", action=pgettext_lazy("transition", "withdrawn"))
        request.decided_at = timezone.now()
        request.decided_by = acting_user
        request.reasons = [reason("WITHDRAWN", detail=text)]
        request.save()
        _request_audit(request, action="withdrawn", acting_user=acting_user, before=before, reason_text=text)
    return request


def _limit_rounding() -> Decimal:
    return active_policy().parsed.limit_rounding


def closure_request_accept_alternative(*, request_id: int, alternative: str, note: str,
                                       acting_user: AbstractBaseUser,
                                       new_limit: Decimal | None = None) -> ClosureRequest:
    """The customer accepts an alternative instead of closing: a lower limit, or a pause
    (account suspended at the customer's request, resumable). The request is withdrawn."""
    _require(acting_user, HANDLE_CLOSURE, _("You may not handle closure requests."))
    if alternative not in Alternative.values:
        raise ValidationFailed(_("Unknown alternative."),
                               details={"alternative": [f"choose one of {', '.join(Alternative.values)}"]})
    with transaction.atomic():
        account, request = _locked_request(request_id)
        before = _request_snapshot(request)
        if not can_proceed(request.withdraw):
            raise Conflict(_("A closure request that is %(status)s cannot be changed.") % {
                               "status": request.get_status_display()},
                           code="invalid_transition", details={"status": request.status, "action": "alternative"})
        if alternative == Alternative.LOWER_LIMIT:
            detail = _lower_limit(account, new_limit=new_limit, request=request, note=note, acting_user=acting_user)
        else:
            detail = _pause(account, note=note or f"closure request #{request.pk}", acting_user=acting_user)
        request.withdraw()
        request.alternative = alternative
        request.alternative_detail = detail
        request.decided_at = timezone.now()
        request.decided_by = acting_user
        request.save()
        _request_audit(request, action="alternative_accepted", acting_user=acting_user, before=before,
                       reason_text=note, after={"alternative": alternative, **detail})
    return request


def _lower_limit(account: CreditAccount, *, new_limit: Decimal | None, request: ClosureRequest, note: str,
                 acting_user: AbstractBaseUser) -> dict[str, str]:
    try:
        limit = to_money(new_limit) if new_limit is not None else None
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(_("The new limit must be money."), details={"new_limit": [str(exc)]}) from exc
    step = _limit_rounding()
    if limit is None or limit <= 0 or limit >= account.credit_limit or limit % step != 0:
        raise ValidationFailed(_("The new limit must be positive, lower than %(limit)s and a multiple of %(step)s.") % {
                               "limit": account.credit_limit, "step": step}, details={"new_limit": [_("invalid")]})
    if account.status == AccountStatus.CLOSED:
        raise Conflict(_("The credit account is closed."), code="account_closed")
    old = account.credit_limit
    account.credit_limit = limit
    account.available_limit = available_limit_for(account)
    account.save(update_fields=["credit_limit", "available_limit", "updated_at"])
    account_services.record_limit_change(account, old_limit=old, reason_code="CUSTOMER_REQUEST",
                                         note=note or f"alternative to closure request #{request.pk}",
                                         policy_version_id=active_policy().pk, acting_user=acting_user)
    account_services.notification_enqueue(
        customer=account.customer, account=account, kind="limit_changed",
        event_key=f"closure:{request.pk}:lower-limit",
        params={"old_limit": f"{old:.2f}", "new_limit": f"{limit:.2f}", "reason_code": "CUSTOMER_REQUEST"})
    return {"old_limit": f"{old:.2f}", "new_limit": f"{limit:.2f}"}


def _pause(account: CreditAccount, *, note: str, acting_user: AbstractBaseUser) -> dict[str, str]:
    if account.paused_by_customer:
        raise Conflict(_("The credit line is already paused."), code="already_paused")
    if account.status not in (AccountStatus.ACTIVE, AccountStatus.SUSPENDED):
        raise Conflict(_("A credit line that is %(status)s cannot be paused.") % {"status": account.get_status_display()},
                       code="account_not_pausable",
                       details={"status": account.status})
    old_status = account.status
    if account.status == AccountStatus.ACTIVE:
        account.suspend()
    account.paused_by_customer = True
    account.save(update_fields=["status", "paused_by_customer", "updated_at"])
    if old_status != account.status:
        account_services.record_status_change(account, from_status=old_status, reason_code="PAUSED_BY_CUSTOMER",
                                              note=note, acting_user=acting_user)
    else:
        account_services.audit_record(acting_user=acting_user, action="account.paused", obj=account,
                                      before={"paused_by_customer": False}, after={"paused_by_customer": True},
                                      reason=note)
    return {"paused_from": old_status}


def account_pause(*, account_id: int, note: str, acting_user: AbstractBaseUser) -> CreditAccount:
    """Pause a credit line at the customer's request (no purchases until resumed)."""
    _require(acting_user, HANDLE_CLOSURE, _("You may not pause credit lines."))
    text = _required_text(note, "note", _("Say why the credit line is paused."))
    with transaction.atomic():
        account = lock_credit_account(account_id)
        _pause(account, note=text, acting_user=acting_user)
    return account


def account_resume(*, account_id: int, note: str, acting_user: AbstractBaseUser) -> CreditAccount:
    """End a customer's pause. The account is active again unless something is overdue (then
    the nightly close reactivates it once nothing is)."""
    _require(acting_user, HANDLE_CLOSURE, _("You may not resume credit lines."))
    text = _required_text(note, "note", _("Say why the credit line is resumed."))
    with transaction.atomic():
        account = lock_credit_account(account_id)
        if not account.paused_by_customer:
            raise Conflict(_("The credit line is not paused."), code="not_paused")
        account.paused_by_customer = False
        if account.status == AccountStatus.SUSPENDED and account.days_past_due == 0:
            account.reactivate()
            account.save(update_fields=["status", "paused_by_customer", "updated_at"])
            account_services.record_status_change(account, from_status=AccountStatus.SUSPENDED,
                                                  reason_code="RESUMED_BY_CUSTOMER", note=text,
                                                  acting_user=acting_user)
        else:
            account.save(update_fields=["paused_by_customer", "updated_at"])
            account_services.audit_record(acting_user=acting_user, action="account.resumed", obj=account,
                                          before={"paused_by_customer": True}, after={"paused_by_customer": False},
                                          reason=text)
    return account


def account_close_for_cause(*, account_id: int, reason_code: str, note: str,
                            acting_user: AbstractBaseUser) -> ClosureRequest:
    """System closure by a risk manager: confirmed fraud or a breach of terms (reason and note
    required). An open customer request is withdrawn; collection of anything owed continues."""
    _require(acting_user, CLOSE_FOR_CAUSE, _("Only a risk manager may close credit accounts for cause."))
    allowed = [code for code, _label in SYSTEM_CLOSURE_CODES]
    errors: dict[str, list[str]] = {}
    if reason_code not in allowed:
        errors["reason_code"] = [f"choose one of {', '.join(allowed)}"]
    if not isinstance(note, str) or not note.strip():
        errors["note"] = ["this field is required"]
    if errors:
        raise ValidationFailed(_("A system closure needs a reason code and a note."), details=errors)
    with transaction.atomic():
        account = lock_credit_account(account_id)
        if account.status == AccountStatus.CLOSED:
            raise Conflict(_("The credit account is already closed."), code="account_closed")
        for open_request in ClosureRequest.objects.select_for_update().filter(account=account,
                                                                              status__in=OPEN_CLOSURE_STATUSES):
            before = _request_snapshot(open_request)
            open_request.withdraw()
            open_request.reasons = [reason("WITHDRAWN", detail=f"superseded by system closure {reason_code}")]
            open_request.decided_at = timezone.now()
            open_request.decided_by = acting_user
            open_request.save()
            _request_audit(open_request, action="withdrawn", acting_user=acting_user, before=before,
                           reason_text=f"superseded by system closure {reason_code}")
        request = ClosureRequest.objects.create(account=account, origin=ClosureOrigin.SYSTEM, note=note.strip(),
                                                created_by=acting_user)
        request.approve()
        request.reasons = [reason(reason_code, detail=note.strip())]
        request.decided_at = timezone.now()
        request.decided_by = acting_user
        request.save()
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
    now = now or timezone.now()
    proceeded = approved = rejected = expired = 0
    ids = list(ClosureRequest.objects.filter(
        Q(status=ClosureStatus.AWAITING_PAYOFF)
        | Q(status=ClosureStatus.UNDER_REVIEW, identity_verified_at__isnull=False)).order_by("id")
        .values_list("id", flat=True))
    for request_id in ids:
        with transaction.atomic():
            account, request = _locked_request(request_id)
            if request.status == ClosureStatus.AWAITING_PAYOFF:
                if account.outstanding_total > 0:
                    if request.payoff_expires_at is not None and request.payoff_expires_at <= now:
                        before = _request_snapshot(request)
                        request.expire()
                        request.reasons = [reason("PAYOFF_NOT_RECEIVED",
                                                  detail=f"{account.outstanding_total} still owed")]
                        request.decided_at = now
                        request.save()
                        _request_audit(request, action="expired", acting_user=None, before=before)
                        _notify_closure(request, account, kind="closure_refused")
                        expired += 1
                    continue
                before = _request_snapshot(request)
                request.payoff_complete()
                request.save()
                _request_audit(request, action="payoff_complete", acting_user=None, before=before)
                proceeded += 1
            if request.status == ClosureStatus.UNDER_REVIEW and request.identity_verified_at is not None:
                outcome = _decide(request, account, acting_user=None)
                approved += outcome == ClosureStatus.APPROVED
                rejected += outcome == ClosureStatus.REJECTED
    return AdvanceResult(proceeded=proceeded, approved=approved, rejected=rejected, expired=expired)


def complaints_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The frequent sweep (beat): escalate breaches, auto-close resolved complaints, move
    closure requests forward. Safe to run any number of times."""
    now = now or timezone.now()
    advanced = closure_requests_advance(now=now)
    return {"escalated": complaints_escalate_breaches(now=now), "closed": complaints_close_resolved(now=now),
            "closure_requests": advanced.changed}
