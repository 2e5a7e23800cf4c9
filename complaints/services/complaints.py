"""Complaints (docs/rules.md §10): filing, assignment, acknowledgement, replies, the customer's
answers and internal notes, the final response, reopening, the one extension of the deadline,
escalation of breached deadlines and the automatic close 7 days after resolution.

Every public service takes keyword-only arguments and ``acting_user`` (None only for the
system or the storefront), checks the permission itself, runs in its own transaction, writes
its audit row in that transaction, and writes notifications to the outbox (delivered after
commit). A refusal raises an ``ApplicationError`` before anything is written, or rolls the
transaction back: refusals change nothing. Rows are locked credit account first, then the
complaint or closure request."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import can_proceed

from accounts import clock
from accounts.audit_trail import Actor, StaffUser, audit_record, require_staff, staff_user
from accounts.errors import Conflict, Message, NotFound, PermissionRefused, ValidationFailed
from accounts.errors import require_permission as _require
from accounts.models import CreditAccount, Customer
from accounts.outbox import notification_enqueue
from accounts.staff_inbox import staff_notify
from complaints import deadlines
from complaints.models import (
    OPEN_COMPLAINT_STATUSES,
    Category,
    Channel,
    Complaint,
    ComplaintMessage,
    ComplaintStatus,
    MessageKind,
)
from complaints.services.deadline_alerts import Supervisors, breach_notify

HANDLE_COMPLAINT = "complaints.handle_complaint"
REASSIGN_COMPLAINT = "complaints.reassign_complaint"
EXTEND_DEADLINE = "complaints.extend_deadline"

# A notification lists at most this many complaint numbers.
NOTIFIED_REFS = 20

# Statuses in which the agent works the complaint (replies, remedies).
WORKING_STATUSES = (ComplaintStatus.IN_PROGRESS, ComplaintStatus.AWAITING_CUSTOMER)


def required_text(value: str, field: str, message: Message) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(message, details={field: [_("this field is required")]})
    return value.strip()


def move(obj: Any, transition_name: str, *, action: Message) -> None:
    """Run a state-machine transition or refuse with 409 ``invalid_transition``."""
    method = getattr(obj, transition_name)
    if not can_proceed(method):
        raise Conflict(_("A %(object)s that is %(status)s cannot be %(action)s.") % {
                           "object": obj._meta.verbose_name, "status": obj.get_status_display(), "action": action},
                       code="invalid_transition", details={"status": obj.status, "action": transition_name})
    method()


def complaint_account_id(complaint_id: int) -> int | None:
    row = Complaint.objects.filter(pk=complaint_id).values_list("account_id", flat=True)
    if not row.exists():
        raise NotFound(_("No such complaint."))
    return row.first()


def locked_complaint(complaint_id: int) -> Complaint:
    complaint = (Complaint.objects.select_for_update(of=("self",)).select_related("customer", "account")
                 .filter(pk=complaint_id).first())
    if complaint is None:
        raise NotFound(_("No such complaint."))
    return complaint


def require_handler(complaint: Complaint, user: Actor) -> StaffUser:
    """The assignee works the complaint; a supervisor may step in. Returns the handler."""
    handler = require_staff(user, HANDLE_COMPLAINT, _("You may not handle complaints."))
    if complaint.assigned_to_id not in (None, handler.pk) and not handler.has_perm(REASSIGN_COMPLAINT):
        raise PermissionRefused(_("This complaint is assigned to another agent."))
    if complaint.assigned_to_id is None and complaint.status != ComplaintStatus.NEW \
            and not handler.has_perm(REASSIGN_COMPLAINT):
        raise PermissionRefused(_("This complaint is not assigned to you."))
    return handler


def local_iso(value: datetime | None) -> str | None:
    """A timestamp in local time (Asia/Shanghai) for audit rows and notification parameters."""
    return timezone.localtime(value).isoformat() if value is not None else None


def _snapshot(complaint: Complaint) -> dict[str, Any]:
    return {"status": complaint.status, "assigned_to": complaint.assigned_to_id,
            "respond_by": local_iso(complaint.respond_by)}


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


def audit_complaint(complaint: Complaint, *, action: str, acting_user: Actor,
           before: dict | None = None, reason_text: str = "", after: dict | None = None) -> None:
    audit_record(acting_user=acting_user, action=f"complaint.{action}", obj=complaint,
                                  before=before, after={**_snapshot(complaint), **(after or {})}, reason=reason_text)


def _notify(complaint: Complaint, *, kind: str, event_key: str, params: dict[str, Any]) -> None:
    notification_enqueue(customer=complaint.customer, account=complaint.account, kind=kind,
                                          event_key=event_key, params={"complaint_id": str(complaint.pk), **params})


def complaint_file(*, customer_external_id: str, category: str, channel: str, description: str,
                   account_id: int | None = None, acting_user: Actor = None) -> Complaint:
    """Record a complaint (from the storefront, or by an agent taking a call). The regulatory
    clock starts now. Without ``account_id`` the customer's credit account, if any, is used."""
    if staff_user(acting_user) is not None:  # a member of staff taking a call (the storefront needs none)
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
    now = clock.now()
    regulatory = deadlines.new_complaint_clock(now)
    with transaction.atomic(durable=True):
        complaint = Complaint.objects.create(
            customer=customer, account=account, category=category, channel=channel,
            description=description.strip(), received_at=now, acknowledge_by=regulatory.acknowledge_by,
            round_started_at=now, respond_by=regulatory.respond_by, internal_target_at=regulatory.internal_target_at,
            next_due_at=regulatory.acknowledge_by, created_by=staff_user(acting_user))
        audit_complaint(complaint, action="filed", acting_user=acting_user,
               after={"category": category, "channel": channel, "account": account.pk if account else None})
    return complaint


def require_agent(assignee: StaffUser | AnonymousUser | None) -> StaffUser:
    """The assignee must be an active member of staff who may handle complaints."""
    if assignee is None or isinstance(assignee, AnonymousUser) or not (
            assignee.is_active and assignee.is_staff and assignee.has_perm(HANDLE_COMPLAINT)):
        raise ValidationFailed(_("The assignee cannot handle complaints."),
                               details={"assignee": [_("not an active complaints agent")]})
    return assignee


def complaint_assign(*, complaint_id: int, assignee: StaffUser | AnonymousUser, acting_user: Actor,
                     note: str = "") -> Complaint:
    """An agent takes a new complaint; a supervisor assigns or reassigns to any agent."""
    acting_user = require_staff(acting_user, HANDLE_COMPLAINT, _("You may not handle complaints."))
    assignee = require_agent(assignee)
    with transaction.atomic(durable=True):
        complaint = locked_complaint(complaint_id)
        assign_locked(complaint, assignee=assignee, acting_user=acting_user, note=note)
        if assignee.pk != acting_user.pk:
            assignment_notify(assignee, [complaint.pk], acting_user=acting_user)
    return complaint


def assign_locked(complaint: Complaint, *, assignee: StaffUser | None, acting_user: StaffUser,
                  note: str = "", bulk: bool = False) -> None:
    """Assign the locked ``complaint`` to ``assignee`` (an agent checked by ``require_agent``),
    or to nobody (``None``: a complaint nobody started goes back to the new ones; one in work
    stays in its status, in the unassigned queue). Inside the caller's transaction; refuses
    (``ApplicationError``) before writing anything."""
    assert connection.in_atomic_block, "assign_locked runs inside the caller's transaction"
    taking_new = (assignee is not None and complaint.status == ComplaintStatus.NEW
                  and assignee.pk == acting_user.pk)
    if not taking_new:
        _require(acting_user, REASSIGN_COMPLAINT, _("Only a supervisor may assign or reassign complaints."))
    if not complaint.is_open:
        raise Conflict(_("A complaint that is %(status)s cannot be reassigned.") % {
                           "status": complaint.get_status_display()},
                       code="invalid_transition", details={"status": complaint.status, "action": "assign"})
    before = _snapshot(complaint)
    if assignee is None:
        if complaint.assigned_to_id is None:
            raise Conflict(_("The complaint is not assigned to anyone."), code="already_unassigned")
        if complaint.status == ComplaintStatus.ASSIGNED:
            move(complaint, "unassign", action=pgettext_lazy("transition", "unassigned"))
        complaint.assigned_to = None
        complaint.assigned_at = None
        action = "unassigned"
    else:
        if complaint.assigned_to_id == assignee.pk:
            raise Conflict(_("The complaint is already assigned to this agent."), code="already_assigned")
        if complaint.status == ComplaintStatus.NEW:
            move(complaint, "assign", action=pgettext_lazy("transition", "assigned"))
        complaint.assigned_to = assignee
        complaint.assigned_at = clock.now()
        action = "assigned" if before["assigned_to"] is None else "reassigned"
    complaint.save(update_fields=["status", "assigned_to", "assigned_at", "updated_at"])
    audit_complaint(complaint, action=action, acting_user=acting_user, before=before, reason_text=note,
                    after={"bulk": True} if bulk else None)


def assignment_notify(assignee: StaffUser, complaint_ids: list[int], *, acting_user: StaffUser) -> None:
    """Tell an agent, in the staff inbox (and by e-mail), which complaints a supervisor gave
    them. Inside the assignment's transaction."""
    if not complaint_ids:
        return
    if len(complaint_ids) == 1:
        staff_notify(recipients=[assignee], kind="complaint_assigned",
                     link=reverse("admin:complaints_complaint_change", args=[complaint_ids[0]]),
                     message=_("%(user)s assigned complaint #%(id)s to you."),
                     params={"user": acting_user.get_username(), "id": complaint_ids[0]})
        return
    shown = ", ".join(f"#{pk}" for pk in complaint_ids[:NOTIFIED_REFS]) + (
        " …" if len(complaint_ids) > NOTIFIED_REFS else "")
    staff_notify(recipients=[assignee], kind="complaint_assigned",
                 link=reverse("admin:complaints_complaint_changelist") + "?queue=mine",
                 message=_("%(user)s assigned %(count)s complaints to you: %(refs)s."),
                 params={"user": acting_user.get_username(), "count": len(complaint_ids), "refs": shown})


def complaint_start(*, complaint_id: int, acting_user: Actor) -> Complaint:
    """The assignee starts work: the complaint is acknowledged and the customer told by when
    the final response will come."""
    with transaction.atomic(durable=True):
        complaint = locked_complaint(complaint_id)
        acting_user = require_handler(complaint, acting_user)
        before = _snapshot(complaint)
        move(complaint, "start", action=pgettext_lazy("transition", "started"))
        now = clock.now()
        complaint.acknowledged_at = complaint.acknowledged_at or now
        _refresh_next_due(complaint)
        complaint.save(update_fields=["status", "acknowledged_at", "next_due_at", "updated_at"])
        audit_complaint(complaint, action="acknowledged", acting_user=acting_user, before=before,
               after={"acknowledged_at": local_iso(complaint.acknowledged_at)})
        _notify(complaint, kind="complaint_acknowledged", event_key=f"complaint:{complaint.pk}:acknowledged",
                params={"category": complaint.category, "respond_by": local_iso(complaint.respond_by)})
    return complaint


def complaint_reply(*, complaint_id: int, body: str, acting_user: Actor,
                    await_customer: bool = False) -> ComplaintMessage:
    """A reply to the customer (notified). With ``await_customer`` the complaint waits for the
    customer's answer: the internal target pauses, the regulatory clock does not."""
    text = required_text(body, "body", _("Write the reply."))
    with transaction.atomic(durable=True):
        complaint = locked_complaint(complaint_id)
        acting_user = require_handler(complaint, acting_user)
        if complaint.status not in WORKING_STATUSES:
            raise Conflict(_("A complaint that is %(status)s cannot be answered; start it first.") % {
                               "status": complaint.get_status_display()},
                           code="invalid_transition", details={"status": complaint.status, "action": "reply"})
        before = _snapshot(complaint)
        now = clock.now()
        if await_customer and complaint.status == ComplaintStatus.IN_PROGRESS:
            move(complaint, "await_customer", action=pgettext_lazy("transition", "set to await the customer"))
            complaint.paused_since = now
            complaint.save(update_fields=["status", "paused_since", "updated_at"])
        message = ComplaintMessage.objects.create(complaint=complaint, kind=MessageKind.REPLY, body=text,
                                                  author=acting_user)
        audit_complaint(complaint, action="answered", acting_user=acting_user, before=before,
               after={"message": message.pk, "awaiting_customer": complaint.status == ComplaintStatus.AWAITING_CUSTOMER})
        _notify(complaint, kind="complaint_answered", event_key=f"complaint-reply:{message.pk}",
                params={"message": text})
    return message


def complaint_record_customer_message(*, complaint_id: int, body: str,
                                      acting_user: Actor) -> ComplaintMessage:
    """What the customer said (recorded by an agent). A complaint awaiting the customer goes
    back to work and its internal target resumes."""
    text = required_text(body, "body", _("Write what the customer said."))
    if acting_user is not None:
        _require(acting_user, HANDLE_COMPLAINT, _("You may not handle complaints."))
    with transaction.atomic(durable=True):
        complaint = locked_complaint(complaint_id)
        if not complaint.is_open:
            raise Conflict(_("A complaint that is %(status)s takes no more messages; reopen it first.") % {
                               "status": complaint.get_status_display()},
                           code="invalid_transition", details={"status": complaint.status, "action": "message"})
        before = _snapshot(complaint)
        if complaint.status == ComplaintStatus.AWAITING_CUSTOMER:
            move(complaint, "resume", action=pgettext_lazy("transition", "resumed"))
            _end_pause(complaint, clock.now())
            complaint.save(update_fields=["status", "internal_paused", "paused_since", "internal_target_at",
                                          "updated_at"])
        message = ComplaintMessage.objects.create(complaint=complaint, kind=MessageKind.CUSTOMER, body=text,
                                                  author=staff_user(acting_user))
        audit_complaint(complaint, action="customer_message", acting_user=acting_user, before=before,
               after={"message": message.pk})
    return message


def complaint_add_note(*, complaint_id: int, body: str, acting_user: Actor) -> ComplaintMessage:
    """An internal note (never shown to the customer)."""
    text = required_text(body, "body", _("Write the note."))
    acting_user = require_staff(acting_user, HANDLE_COMPLAINT, _("You may not handle complaints."))
    with transaction.atomic(durable=True):
        complaint = locked_complaint(complaint_id)
        message = ComplaintMessage.objects.create(complaint=complaint, kind=MessageKind.NOTE, body=text,
                                                  author=acting_user)
        audit_complaint(complaint, action="note_added", acting_user=acting_user, after={"message": message.pk})
    return message


def complaint_resolve(*, complaint_id: int, resolution: str, acting_user: Actor) -> Complaint:
    """The final response to the customer. The complaint closes itself 7 days later unless reopened."""
    text = required_text(resolution, "resolution", _("Write the final response to the customer."))
    with transaction.atomic(durable=True):
        complaint = locked_complaint(complaint_id)
        acting_user = require_handler(complaint, acting_user)
        before = _snapshot(complaint)
        move(complaint, "resolve", action=pgettext_lazy("transition", "resolved"))
        now = clock.now()
        _end_pause(complaint, now)
        complaint.resolution = text
        complaint.resolved_at = now
        complaint.resolved_by = acting_user
        _refresh_next_due(complaint)
        complaint.save(update_fields=["status", "internal_paused", "paused_since", "internal_target_at", "resolution",
                                      "resolved_at", "resolved_by", "next_due_at", "updated_at"])
        ComplaintMessage.objects.create(complaint=complaint, kind=MessageKind.REPLY, body=text, author=acting_user)
        audit_complaint(complaint, action="resolved", acting_user=acting_user, before=before, reason_text=text,
               after={"on_time": now <= complaint.respond_by})
        _notify(complaint, kind="complaint_resolved",
                event_key=f"complaint:{complaint.pk}:resolved:{complaint.round}", params={"resolution": text})
    return complaint


def complaint_reopen(*, complaint_id: int, note: str, acting_user: Actor) -> Complaint:
    """A resolved complaint goes back to work (the customer disagrees). A new round starts:
    a fresh 15-day final-response deadline, which may be extended once."""
    text = required_text(note, "note", _("Say why the complaint is reopened."))
    with transaction.atomic(durable=True):
        complaint = locked_complaint(complaint_id)
        acting_user = require_handler(complaint, acting_user)
        before = _snapshot(complaint)
        move(complaint, "reopen", action=pgettext_lazy("transition", "reopened"))
        now = clock.now()
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
        complaint.save(update_fields=["status", "round", "reopened_count", "round_started_at", "respond_by",
                                      "extended_at", "extended_by", "extension_reason", "internal_paused",
                                      "paused_since", "internal_target_at", "response_breached", "resolution",
                                      "resolved_at", "resolved_by", "next_due_at", "updated_at"])
        ComplaintMessage.objects.create(complaint=complaint, kind=MessageKind.NOTE, body=text, author=acting_user)
        audit_complaint(complaint, action="reopened", acting_user=acting_user, before=before, reason_text=text,
               after={"round": complaint.round})
    return complaint


def complaint_extend_deadline(*, complaint_id: int, reason_text: str, acting_user: Actor) -> Complaint:
    """Extend the final-response deadline of this round from 15 to 30 days (once), with the
    supervisor's approval and reason recorded; the customer is told."""
    acting_user = require_staff(acting_user, EXTEND_DEADLINE, _("Only a supervisor may extend a complaint's deadline."))
    text = required_text(reason_text, "reason", _("Say why the deadline is extended."))
    with transaction.atomic(durable=True):
        complaint = locked_complaint(complaint_id)
        if not complaint.is_open:
            raise Conflict(_("A complaint that is %(status)s has no deadline to extend.") % {
                               "status": complaint.get_status_display()},
                           code="invalid_transition", details={"status": complaint.status, "action": "extend"})
        now = clock.now()
        if complaint.extended:
            raise Conflict(_("The deadline was already extended once."), code="already_extended")
        if not deadlines.can_extend(already_extended=False, respond_by_at=complaint.respond_by, now=now):
            raise Conflict(_("The final-response deadline has already passed; it can no longer be extended."),
                           code="deadline_passed", details={"respond_by": local_iso(complaint.respond_by)})
        before = _snapshot(complaint)
        complaint.respond_by = deadlines.respond_by(complaint.round_started_at, extended=True)
        complaint.extended_at = now
        complaint.extended_by = acting_user
        complaint.extension_reason = text
        _refresh_next_due(complaint)
        complaint.save(update_fields=["respond_by", "extended_at", "extended_by", "extension_reason", "next_due_at",
                                      "updated_at"])
        audit_complaint(complaint, action="deadline_extended", acting_user=acting_user, before=before, reason_text=text)
        _notify(complaint, kind="complaint_deadline_extended",
                event_key=f"complaint:{complaint.pk}:extended:{complaint.round}",
                params={"respond_by": local_iso(complaint.respond_by)})
    return complaint


def complaints_escalate_breaches(*, now: datetime | None = None) -> int:
    """Flag every missed regulatory deadline once and escalate the complaint to the
    supervisors' queue (the nightly close and the frequent sweep call this); the assigned
    agent and the supervisors are told in the staff inbox. Returns the number of breaches
    flagged."""
    now = now or clock.now()
    flagged = 0
    supervisors = Supervisors()
    with transaction.atomic(durable=True):
        late_ack = (Complaint.objects.select_for_update(skip_locked=True, of=("self",)).select_related("assigned_to")
                    .filter(acknowledge_breached=False, acknowledge_by__lt=now)
                    .filter(Q(acknowledged_at__isnull=True) | Q(acknowledged_at__gt=F("acknowledge_by"))))
        for complaint in late_ack:
            flagged += _escalate(complaint, now=now, breach="acknowledge", supervisors=supervisors)
        late_response = (Complaint.objects.select_for_update(skip_locked=True, of=("self",))
                         .select_related("assigned_to")
                         .filter(response_breached=False, respond_by__lt=now)
                         .filter(Q(status__in=OPEN_COMPLAINT_STATUSES) | Q(resolved_at__gt=F("respond_by"))))
        for complaint in late_response:
            flagged += _escalate(complaint, now=now, breach="response", supervisors=supervisors)
    return flagged


def _escalate(complaint: Complaint, *, now: datetime, breach: str, supervisors: Supervisors) -> int:
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
    audit_complaint(complaint, action="escalated", acting_user=None, before=before,
           reason_text=f"{breach} deadline {local_iso(deadline)} breached",
           after={"breach": breach, "deadline": local_iso(deadline)})
    breach_notify(complaint, breach=breach, deadline=deadline, supervisors=supervisors)
    return 1


def complaints_close_resolved(*, now: datetime | None = None) -> int:
    """Close complaints resolved 7 days ago or more (not reopened)."""
    now = now or clock.now()
    closed = 0
    with transaction.atomic(durable=True):
        for complaint in (Complaint.objects.select_for_update(skip_locked=True)
                          .filter(status=ComplaintStatus.RESOLVED,
                                  resolved_at__lte=now - deadlines.AUTO_CLOSE_AFTER).order_by("id")):
            before = _snapshot(complaint)
            complaint.close()
            complaint.closed_at = now
            complaint.save(update_fields=["status", "closed_at", "updated_at"])
            audit_complaint(complaint, action="closed", acting_user=None, before=before,
                   reason_text="closed automatically 7 days after resolution")
            closed += 1
    return closed
