"""Remedies given while a complaint is worked (docs/rules.md §10): fee and penalty waivers
(a ledger entry; above the agent's limit a supervisor approves), early release of a
restoration hold, and starting a closure request."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts import clock
from accounts.audit_trail import Actor, StaffUser, audit_record, require_staff
from accounts.business_day import business_date_get
from accounts.errors import BusinessRuleRefused, Conflict, NotFound, ValidationFailed
from accounts.errors import require_permission as _require
from accounts.ledger import Leg, lock_credit_account, post_entry
from accounts.models import Book, CreditAccount
from accounts.money import ZERO, to_money
from accounts.staff_inbox import staff_notify
from complaints.models import ClosureRequest, Complaint, Waiver, WaiverKind, WaiverStatus
from installments.models import Installment, InstallmentState, Penalty
from installments.services.holds import RELEASE_EARLY, release_hold_early

from .closures import HANDLE_CLOSURE, open_closure_request
from .complaints import (
    HANDLE_COMPLAINT,
    WORKING_STATUSES,
    audit_complaint,
    complaint_account_id,
    locked_complaint,
    require_handler,
    required_text,
)

APPROVE_WAIVER = "complaints.approve_waiver"
RELEASE_HOLD = RELEASE_EARLY

# An agent may waive up to this much in total on one item (a fee or a penalty), counting every
# waiver on it that is applied or awaiting approval; above it a supervisor approves.
AGENT_WAIVER_LIMIT = Decimal("100.00")


def _working_complaint_on(account_id: int | None, complaint_id: int, user: Actor) -> Complaint:
    complaint = locked_complaint(complaint_id)
    require_handler(complaint, user)
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


def _waived_on_item(installment: Installment | None, penalty: Penalty | None) -> Decimal:
    """What complaint waivers already give up on the item: applied ones and those awaiting a
    supervisor (rejected ones do not count). The item's row is locked by ``_waiver_item``."""
    counted = Waiver.objects.filter(status__in=[WaiverStatus.APPLIED, WaiverStatus.PENDING])
    on_item = (counted.filter(installment=installment) if installment is not None
               else counted.filter(penalty=penalty))
    total = on_item.aggregate(total=Sum("amount"))["total"]
    return total or ZERO


def _apply_waiver(waiver: Waiver, account: CreditAccount, *, installment: Installment | None,
                  penalty: Penalty | None, acting_user: StaffUser) -> None:
    """Dr waivers / Cr the receivable, through the one ledger writer, and the item's waived
    amount moves in the same transaction."""
    today = business_date_get()
    amount = waiver.amount
    if installment is not None:
        installment.fee_waived += amount
        if installment.principal_unpaid == 0 and installment.fee_unpaid == 0 \
                and installment.state == InstallmentState.OPEN:
            installment.state = InstallmentState.PAID
            installment.paid_on = installment.paid_on or today
        installment.save(update_fields=["fee_waived", "state", "paid_on"])
        credit = Leg(Book.FEE_RECEIVABLE, -amount, installment.pk)
        kind = "fee_waiver"
    else:
        assert penalty is not None  # a waiver is of a fee or of a penalty (``_waiver_item``)
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
    waiver.decided_at = clock.now()
    # With the decision note ``waiver_approve`` set before.
    waiver.save(update_fields=["status", "journal_entry", "decided_by", "decided_at", "decision_note"])


def complaint_waiver_request(*, complaint_id: int, kind: str, item_id: int, amount: Decimal, reason_text: str,
                             acting_user: Actor) -> Waiver:
    """Waive (part of) a posted fee or a penalty. While the total waived on the item — earlier
    waivers applied or pending, plus this one — stays within 100.00 an agent applies it at once;
    above, it waits for a supervisor (``waiver_approve``) — a supervisor's own waiver applies.
    A waiver that starts waiting is announced to every supervisor (``complaints.approve_waiver``)
    in the staff inbox, linking to their queue."""
    acting_user = require_staff(acting_user, HANDLE_COMPLAINT, _("You may not handle complaints."))
    try:
        amount = to_money(amount)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(_("The amount must be money in fen."), details={"amount": [str(exc)]}) from exc
    if amount <= 0:
        raise ValidationFailed(_("The amount must be positive."), details={"amount": [_("must be greater than 0.00")]})
    text = required_text(reason_text, "reason", _("Say why the waiver is granted."))
    account_id = complaint_account_id(complaint_id)
    with transaction.atomic(durable=True):
        account = lock_credit_account(account_id) if account_id else None
        complaint = _working_complaint_on(account_id, complaint_id, acting_user)
        assert account is not None  # _working_complaint_on refused a complaint without an account
        installment, penalty, owed = _waiver_item(account, kind, item_id)
        if amount > owed:
            raise BusinessRuleRefused(_("The waiver is more than what is owed on this item."),
                                      code="waiver_exceeds_owed", details={"owed": f"{owed:.2f}"})
        waived_before = _waived_on_item(installment, penalty)
        waiver = Waiver.objects.create(complaint=complaint, account=account, kind=kind, installment=installment,
                                       penalty=penalty, amount=amount, reason=text, requested_by=acting_user)
        if waived_before + amount <= AGENT_WAIVER_LIMIT or acting_user.has_perm(APPROVE_WAIVER):
            _apply_waiver(waiver, account, installment=installment, penalty=penalty, acting_user=acting_user)
            action = "applied"
        else:
            action = "requested"
        audit_record(acting_user=acting_user, action=f"waiver.{action}", obj=waiver,
                                      after={"complaint": complaint.pk, "kind": kind, "item": item_id,
                                             "amount": f"{amount:.2f}", "waived_before": f"{waived_before:.2f}",
                                             "status": waiver.status},
                                      reason=text)
        audit_complaint(complaint, action=f"waiver_{action}", acting_user=acting_user,
               after={"waiver": waiver.pk, "amount": f"{amount:.2f}"}, reason_text=text)
        if action == "requested":
            staff_notify(permission=APPROVE_WAIVER, kind="waiver_awaiting_approval",
                         link=reverse("admin:complaints_complaint_waiver_queue"),
                         message=_("A waiver of %(amount)s on complaint #%(complaint)s awaits your approval "
                                   "(requested by %(user)s; %(total)s in total on the item)."),
                         params={"amount": f"{amount:.2f}", "complaint": complaint.pk,
                                 "user": acting_user.get_username(), "total": f"{waived_before + amount:.2f}"})
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


def waiver_approve(*, waiver_id: int, acting_user: Actor, note: str = "") -> Waiver:
    """A supervisor approves a waiver above the agent limit: it is applied now."""
    acting_user = require_staff(acting_user, APPROVE_WAIVER, _("Only a supervisor may approve waivers above 100.00."))
    with transaction.atomic(durable=True):
        account, waiver = _locked_pending_waiver(waiver_id)
        item_id = waiver.installment_id or waiver.penalty_id
        assert item_id is not None  # a waiver targets one item (constraint ``waiver_targets_one_item``)
        installment, penalty, owed = _waiver_item(account, waiver.kind, item_id)
        if waiver.amount > owed:
            raise BusinessRuleRefused(_("The waiver is more than what is still owed on this item."),
                                      code="waiver_exceeds_owed", details={"owed": f"{owed:.2f}"})
        waiver.decision_note = note
        _apply_waiver(waiver, account, installment=installment, penalty=penalty, acting_user=acting_user)
        audit_record(acting_user=acting_user, action="waiver.approved", obj=waiver,
                                      before={"status": WaiverStatus.PENDING}, after={"status": waiver.status},
                                      reason=note)
    return waiver


def waiver_reject(*, waiver_id: int, note: str, acting_user: Actor) -> Waiver:
    acting_user = require_staff(acting_user, APPROVE_WAIVER, _("Only a supervisor may decide waivers above 100.00."))
    text = required_text(note, "note", _("Say why the waiver is rejected."))
    with transaction.atomic(durable=True):
        _account, waiver = _locked_pending_waiver(waiver_id)
        waiver.reject()
        waiver.decided_by = acting_user
        waiver.decided_at = clock.now()
        waiver.decision_note = text
        waiver.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        audit_record(acting_user=acting_user, action="waiver.rejected", obj=waiver,
                                      before={"status": WaiverStatus.PENDING}, after={"status": waiver.status},
                                      reason=text)
    return waiver


def complaint_release_hold(*, complaint_id: int, hold_id: int, reason_text: str,
                           acting_user: Actor) -> Decimal:
    """Give back a restoration hold now (a supervisor's remedy:
    ``installments.release_restorationhold``)."""
    _require(acting_user, HANDLE_COMPLAINT, _("You may not handle complaints."))
    _require(acting_user, RELEASE_HOLD, _("You may not release restoration holds early."))
    text = required_text(reason_text, "reason", _("Say why the hold is released early."))
    account_id = complaint_account_id(complaint_id)
    with transaction.atomic(durable=True):
        account = lock_credit_account(account_id) if account_id else None
        complaint = _working_complaint_on(account_id, complaint_id, acting_user)
        assert account is not None  # _working_complaint_on refused a complaint without an account
        released = release_hold_early(account, hold_id=hold_id, acting_user=acting_user,
                                      reason=f"complaint #{complaint.pk}: {text}")
        audit_complaint(complaint, action="hold_released", acting_user=acting_user, reason_text=text,
                        after={"hold": hold_id, "released": f"{released:.2f}"})
    return released


def complaint_start_closure(*, complaint_id: int, note: str, acting_user: Actor,
                            identity_method: str = "") -> ClosureRequest:
    """Start a closure request for the complaint's account."""
    _require(acting_user, HANDLE_CLOSURE, _("You may not handle closure requests."))
    account_id = complaint_account_id(complaint_id)
    if account_id is None:
        raise BusinessRuleRefused(_("The complaint is not about a credit account."), code="no_account")
    with transaction.atomic(durable=True):
        account = lock_credit_account(account_id)
        complaint = _working_complaint_on(account_id, complaint_id, acting_user)
        request = open_closure_request(account, channel=complaint.channel, note=note, acting_user=acting_user,
                                       complaint_id=complaint.pk, identity_method=identity_method)
        audit_complaint(complaint, action="closure_started", acting_user=acting_user, reason_text=note,
               after={"closure_request": request.pk})
    return request
