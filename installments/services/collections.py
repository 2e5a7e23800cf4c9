"""The collections desk (docs/rules.md §7, decision 0034): accounts in collections assigned to
collectors (staff holding ``installments.work_collections``; assigning needs
``installments.assign_collections``), each contact with the customer logged, and promises to
pay recorded. The close's ``check_promises`` step settles the open promises: kept as soon as
the repayments booked after the promise (any source) reach its amount; broken when its date is
over short of that — the assigned collector (else whoever recorded it) is notified."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import DecimalField, Max, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts import clock
from accounts.audit_trail import Actor, StaffUser, audit_record, audit_record_many, require_staff
from accounts.business_day import business_date_get
from accounts.errors import BusinessRuleRefused, Conflict, ValidationFailed
from accounts.ledger import lock_credit_account
from accounts.models import MONEY, AuditEvent, CreditAccount
from accounts.money import to_money
from accounts.staff_inbox import staff_holding, staff_notify

from ..models import (
    CollectionAssignment,
    CollectionContact,
    ContactChannel,
    ContactOutcome,
    PromiseStatus,
    PromiseToPay,
    Repayment,
)

WORK_COLLECTIONS = "installments.work_collections"
ASSIGN_COLLECTIONS = "installments.assign_collections"
PROMISE_HORIZON_DAYS = 31  # a promise is for a date within a month of the business date
NOTE_MAX = 2000
BROKEN_PROMISE_KIND = "collections.promise_broken"


def _note(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > NOTE_MAX:
        raise ValidationFailed(_("Keep the note under %(n)s characters.") % {"n": NOTE_MAX},
                               details={"note": [str(_("too long"))]})
    return text


def _choice(value: Any, choices: type[ContactChannel] | type[ContactOutcome], field: str) -> str:
    if value not in choices.values:
        raise ValidationFailed(_("Choose one of the listed values."), details={field: [str(_("not a choice"))]})
    return str(value)


def collector_users():
    """Active members of staff who may work accounts in collections (the assignment choices)."""
    return staff_holding(WORK_COLLECTIONS).order_by("username")


# --- assignment ----------------------------------------------------------------------------------


def collection_assign(*, account_ids: list[int], collector_id: int | None, acting_user: Actor) -> int:
    """Assign accounts in collections (days past due) to a collector, or unassign them
    (``collector_id`` None); one audit row per account that changes. Refuses an account not in
    collections and a collector who does not hold ``installments.work_collections``; nothing
    changes then. Returns how many accounts changed hands."""
    manager = require_staff(acting_user, ASSIGN_COLLECTIONS, _("You may not assign accounts in collections."))
    ids = sorted({int(pk) for pk in account_ids})
    if not ids:
        raise ValidationFailed(_("Choose the accounts to assign."))
    collector: StaffUser | None = None
    if collector_id is not None:
        collector = collector_users().filter(pk=collector_id).first()
        if collector is None:
            raise ValidationFailed(_("Choose a collector: an active member of staff who works collections."),
                                   details={"collector": [str(_("not a collector"))]})
    with transaction.atomic(durable=True):
        in_collections = set(CreditAccount.objects.filter(pk__in=ids, days_past_due__gt=0)
                             .values_list("pk", flat=True))
        outside = [pk for pk in ids if pk not in in_collections]
        if outside:
            raise BusinessRuleRefused(_("Only accounts in collections (days past due) are assigned: %(ids)s")
                                      % {"ids": ", ".join(f"#{pk}" for pk in outside[:10])}, code="not_in_collections")
        current = {a.account_id: a for a in CollectionAssignment.objects.select_for_update().select_related("collector")
                   .filter(account_id__in=ids).order_by("account_id")}
        now = clock.now()
        events, changed = [], 0
        for pk in ids:
            row = current.get(pk)
            before = row.collector if row is not None else None
            if (before.pk if before else None) == (collector.pk if collector else None):
                continue
            if collector is None:
                assert row is not None
                row.delete()
            elif row is None:
                CollectionAssignment.objects.create(account_id=pk, collector=collector, assigned_by=manager,
                                                    assigned_at=now)
            else:
                row.collector, row.assigned_by, row.assigned_at = collector, manager, now
                row.save(update_fields=["collector", "assigned_by", "assigned_at"])
            changed += 1
            events.append(AuditEvent(actor=manager, actor_label=manager.get_username(),
                                     action="collections.assigned", object_type="accounts.creditaccount",
                                     object_id=str(pk), before={"collector": before.get_username() if before else None},
                                     after={"collector": collector.get_username() if collector else None}))
        audit_record_many(events)
        if collector is not None and changed:
            staff_notify(recipients=[collector], kind="collections.assigned", exclude=[manager],
                         message=_("%(count)s account(s) in collections were assigned to you."),
                         params={"count": changed}, link=f"{reverse('admin:accounts_creditaccount_collections')}?mine=1")
    return changed


# --- contacts and promises -----------------------------------------------------------------------


def _account_in_collections(account_id: int) -> CreditAccount:
    account = lock_credit_account(account_id)
    if account.days_past_due <= 0 and not PromiseToPay.objects.filter(account=account,
                                                                      status=PromiseStatus.OPEN).exists():
        raise BusinessRuleRefused(_("This account is not in collections."), code="not_in_collections")
    return account


def collection_contact_log(*, account_id: int, channel: str, outcome: str, note: str = "",
                           contacted_at: datetime | None = None, acting_user: Actor) -> CollectionContact:
    """Log one contact (or attempt) with the customer of an account in collections: channel,
    outcome, note, when (now unless given, never in the future). Audited."""
    collector = require_staff(acting_user, WORK_COLLECTIONS, _("You may not work accounts in collections."))
    channel = _choice(channel, ContactChannel, "channel")
    outcome = _choice(outcome, ContactOutcome, "outcome")
    text = _note(note)
    now = clock.now()
    at = contacted_at or now
    if at > now:
        raise ValidationFailed(_("A contact is logged after it happened."), details={"contacted_at": [str(_("future"))]})
    with transaction.atomic(durable=True):
        account = _account_in_collections(account_id)
        contact = CollectionContact.objects.create(account=account, collector=collector, channel=channel,
                                                   outcome=outcome, note=text, contacted_at=at)
        audit_record(acting_user=collector, action="collections.contact_logged", obj=account,
                     after={"contact": contact.pk, "channel": channel, "outcome": outcome}, reason=text)
    return contact


def promise_to_pay_record(*, account_id: int, amount: Decimal | str, promised_for: date, channel: str,
                          note: str = "", acting_user: Actor) -> PromiseToPay:
    """Record a customer's promise to repay ``amount`` by ``promised_for`` (the business date
    up to 31 days ahead), with the contact it was made in (outcome "promise to pay"). One open
    promise per account (409 otherwise). Only repayments booked after it count towards it
    (the account row is locked, as repayment booking does, so none is counted twice)."""
    collector = require_staff(acting_user, WORK_COLLECTIONS, _("You may not work accounts in collections."))
    try:
        value = to_money(amount if isinstance(amount, Decimal) else str(amount).strip())
    except (TypeError, ValueError):
        value = Decimal("-1")
    if value <= 0:
        raise ValidationFailed(_("Give the promised amount, e.g. 500.00."), details={"amount": [str(_("invalid"))]})
    channel = _choice(channel, ContactChannel, "channel")
    text = _note(note)
    today = business_date_get()
    if not isinstance(promised_for, date) or not today <= promised_for <= date.fromordinal(
            today.toordinal() + PROMISE_HORIZON_DAYS):
        raise ValidationFailed(_("The promised date is between the business date and %(days)s days after it.")
                               % {"days": PROMISE_HORIZON_DAYS}, details={"promised_for": [str(_("out of range"))]})
    with transaction.atomic(durable=True):
        account = _account_in_collections(account_id)
        if value > max(account.outstanding_total, account.recoverable):
            raise ValidationFailed(_("The promise is larger than what the account owes."),
                                   details={"amount": [str(_("more than owed"))]})
        if PromiseToPay.objects.filter(account=account, status=PromiseStatus.OPEN).exists():
            raise Conflict(_("This account already has an open promise to pay."), code="promise_open")
        last = Repayment.objects.filter(account=account).aggregate(last=Max("id"))["last"] or 0
        contact = CollectionContact.objects.create(account=account, collector=collector, channel=channel,
                                                   outcome=ContactOutcome.PROMISED, note=text, contacted_at=clock.now())
        promise = PromiseToPay.objects.create(account=account, collector=collector, contact=contact, amount=value,
                                              promised_for=promised_for, made_on=today, after_repayment_id=last)
        audit_record(acting_user=collector, action="collections.promise_recorded", obj=account,
                     after={"promise": promise.pk, "amount": str(value), "promised_for": promised_for.isoformat()},
                     reason=text)
    return promise


# --- the close's check_promises step -------------------------------------------------------------


def _paid_since_promise():
    money = DecimalField(**MONEY)
    paid = (Repayment.objects.filter(account=OuterRef("account_id"), id__gt=OuterRef("after_repayment_id"))
            .order_by().values("account").annotate(total=Sum("amount")).values("total"))
    return Coalesce(Subquery(paid, output_field=money), Value(Decimal("0.00")), output_field=money)


def promises_check(*, business_date: date) -> dict[str, Any]:
    """The close's ``check_promises`` step, set-based: every open promise whose repayments
    since it reach its amount is kept; every other open promise due on or before
    ``business_date`` is broken (the day's own repayments, auto-debit included, are booked by
    then). One audit row per settled promise (system); the collector assigned to the account
    — else the one who recorded the promise — is notified of a broken one. Idempotent: a
    settled promise is never looked at again."""
    with transaction.atomic():
        promises: list[PromiseToPay] = []
        for row in (PromiseToPay.objects.select_for_update(of=("self",)).filter(status=PromiseStatus.OPEN)
                    .annotate(paid_since=_paid_since_promise()).order_by("id")):
            row.paid = row.paid_since
            promises.append(row)
        kept = [p for p in promises if p.paid >= p.amount]
        broken = [p for p in promises if p.paid < p.amount and p.promised_for <= business_date]
        for promise, status in [*((p, PromiseStatus.KEPT) for p in kept), *((p, PromiseStatus.BROKEN) for p in broken)]:
            promise.status, promise.settled_on = status, business_date
        PromiseToPay.objects.bulk_update([*kept, *broken], ["status", "paid", "settled_on"])
        audit_record_many([
            AuditEvent(actor=None, actor_label="system", action=f"collections.promise_{p.status}",
                       object_type="accounts.creditaccount", object_id=str(p.account_id),
                       before={"promise": p.pk, "status": PromiseStatus.OPEN},
                       after={"promise": p.pk, "status": p.status, "amount": str(p.amount), "paid": str(p.paid),
                              "promised_for": p.promised_for.isoformat()},
                       reason=f"close of business {business_date}")
            for p in [*kept, *broken]])
        promise_broken_notify(broken)
    return {"kept": len(kept), "broken": len(broken)}


def promise_broken_notify(broken: Sequence[PromiseToPay]) -> None:
    """Tell the collector working each account (else the promise's own collector) that a
    promise was broken; inside the close's transaction."""
    if not broken:
        return
    assigned = dict(CollectionAssignment.objects.filter(account_id__in={p.account_id for p in broken})
                    .values_list("account_id", "collector_id"))
    by_collector: dict[int, list[PromiseToPay]] = {}
    for promise in broken:
        by_collector.setdefault(assigned.get(promise.account_id, promise.collector_id), []).append(promise)
    users = {u.pk: u for u in StaffUser.objects.filter(pk__in=by_collector)}
    link = f"{reverse('admin:accounts_creditaccount_collections')}?promise=broken&mine=1"
    for collector_id, promises in sorted(by_collector.items()):  # one notification per collector
        user = users.get(collector_id)
        if user is None:
            continue
        staff_notify(recipients=[user], kind=BROKEN_PROMISE_KIND, link=link,
                     message=_("Promises to pay broken: %(accounts)s."),
                     params={"accounts": "; ".join(
                         f"#{p.account_id} {p.paid}/{p.amount} ({p.promised_for.isoformat()})" for p in promises)})
