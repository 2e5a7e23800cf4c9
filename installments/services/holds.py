"""Restoration holds (docs/rules.md §6): a policy may hold the limit a repayment restores for
listed reasons, for a stated time; the close and a frequent sweep release holds whose time
has come, and a supervisor may release one early."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.db import connection, transaction
from django.utils.translation import gettext_lazy

from accounts import clock
from accounts.audit_trail import Actor, audit_record, staff_user
from accounts.errors import Conflict, PermissionRefused, ValidationFailed
from accounts.ledger import lock_credit_account, lock_credit_accounts
from accounts.lifecycle.credit_line import refresh_available_limit
from accounts.models import CreditAccount
from accounts.money import ZERO
from accounts.outbox import notification_enqueue
from installments.models import RestorationHold
from risk.policy import PolicyParams

RELEASE_EARLY = "installments.release_restorationhold"


def hold_rule(account: CreditAccount, params: PolicyParams, today: date) -> tuple[str, int] | None:
    """The first hold rule of the policy that applies to the account: (reason code, hours)."""
    for rule in params.restoration_hold_rules:
        max_age = rule.get("max_account_age_days")
        if max_age is not None and (today - (account.reopened_on or account.opened_on)).days < int(max_age):
            return str(rule.get("code", "NEW_ACCOUNT")), int(rule.get("hold_hours", 72))
    return None


def release_holds(account: CreditAccount, holds: list[RestorationHold], *, acting_user: Actor,
                  reason: str) -> Decimal:
    """Give back ``holds`` of a locked account: the limit is available again at once and the
    customer is told, hold by hold. Inside the caller's transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("release_holds runs inside the caller's transaction, on a locked account")
    released = ZERO
    now = clock.now()
    for hold in holds:
        hold.released_at = now
        hold.released_by = staff_user(acting_user)
        hold.save(update_fields=["released_at", "released_by"])
        released += hold.amount
    if not released:
        return released
    held_before = account.held_amount
    account.held_amount -= released
    refresh_available_limit(account)
    account.save(update_fields=["held_amount", "available_limit", "updated_at"])
    audit_record(acting_user=acting_user, action="restoration_hold.released", obj=account,
                 before={"held_amount": str(held_before)},
                 after={"released": str(released), "held_amount": str(account.held_amount)}, reason=reason)
    for hold in holds:
        notification_enqueue(
            customer=account.customer, account=account, kind="limit_restored", event_key=f"hold-released:{hold.pk}",
            params={"restored": f"{hold.amount:.2f}", "held": "0.00", "release_at": "",
                    "available_limit": f"{account.available_limit:.2f}"})
    return released


def holds_release_accounts(*, account_ids: list[int], until: datetime) -> int:
    """Release every hold of these accounts due by ``until`` (the close's `release_holds` step and the
    frequent sweep). Returns how many accounts got limit back."""
    with transaction.atomic(durable=True):
        accounts = lock_credit_accounts(account_ids)
        due: dict[int, list[RestorationHold]] = {}
        for hold in (RestorationHold.objects.select_for_update()
                     .filter(account_id__any_of=account_ids, released_at__isnull=True, release_at__lte=until)
                     .order_by("account_id", "release_at", "id")):
            due.setdefault(hold.account_id, []).append(hold)
        for account_id, holds in sorted(due.items()):
            release_holds(accounts[account_id], holds, acting_user=None, reason="hold time reached")
    return len(due)


def hold_release_early(*, account_id: int, hold_id: int, acting_user: Actor, reason: str = "") -> Decimal:
    """A member of staff with ``installments.release_restorationhold`` gives one hold back now."""
    with transaction.atomic(durable=True):
        return release_hold_early(lock_credit_account(account_id), hold_id=hold_id, acting_user=acting_user,
                                  reason=reason)


def release_hold_early(account: CreditAccount, *, hold_id: int, acting_user: Actor,
                       reason: str = "") -> Decimal:
    """``hold_release_early`` inside the caller's transaction (a complaint's remedy)."""
    user = staff_user(acting_user)
    if user is None or not user.has_perm(RELEASE_EARLY):
        raise PermissionRefused(gettext_lazy("You may not release restoration holds early."))
    hold = RestorationHold.objects.select_for_update().filter(pk=hold_id, account=account).first()
    if hold is None:
        raise ValidationFailed(gettext_lazy("No such restoration hold on this account."),
                               details={"hold_id": [gettext_lazy("not found")]})
    if hold.released_at is not None:
        raise Conflict(gettext_lazy("This hold was already released."), code="hold_already_released")
    return release_holds(account, [hold], acting_user=acting_user, reason=reason or "early release")
