"""A risk manager's freeze and unfreeze of a credit account (docs/rules.md §4): suspected
fraud stops purchases; repayments are still accepted."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.audit_trail import Actor
from accounts.errors import Message, ValidationFailed, require_permission
from accounts.ledger import lock_credit_account
from accounts.lifecycle import credit_line
from accounts.models import CreditAccount
from risk.selectors import active_policy

FREEZE_ACCOUNT = "accounts.freeze_account"


def _reason_required(reason_text: str, message: Message) -> str:
    if not isinstance(reason_text, str) or not reason_text.strip():
        raise ValidationFailed(message, details={"reason": [str(_("this field is required"))]})
    return reason_text.strip()


def account_freeze(*, account_id: int, reason_text: str, acting_user: Actor) -> CreditAccount:
    """Suspected fraud: the account is ``frozen``. Risk managers only; the status change and
    the audit row carry who and why."""
    require_permission(acting_user, FREEZE_ACCOUNT, _("Only a risk manager may freeze credit accounts."))
    text = _reason_required(reason_text, _("Say why the account is frozen."))
    with transaction.atomic(durable=True):
        account = lock_credit_account(account_id)
        credit_line.freeze(account, note=text, acting_user=acting_user)
    return account


def account_unfreeze(*, account_id: int, reason_text: str, acting_user: Actor) -> CreditAccount:
    """Lift a freeze: the account is active again, or straight away suspended when it is
    overdue beyond grace or paused at the customer's request."""
    require_permission(acting_user, FREEZE_ACCOUNT, _("Only a risk manager may unfreeze credit accounts."))
    text = _reason_required(reason_text, _("Say why the freeze is lifted."))
    grace_days = active_policy().parsed.grace_days
    with transaction.atomic(durable=True):
        account = lock_credit_account(account_id)
        credit_line.unfreeze(account, note=text, acting_user=acting_user, grace_days=grace_days)
    return account
