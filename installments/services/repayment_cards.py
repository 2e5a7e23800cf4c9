"""The repayment card (docs/rules.md §6): the customer changes it through the storefront, an
agent in the back office (permission ``accounts.change_repayment_card``, with a reason). The
next business day's close charges the new card — also after a hard decline of the old one,
and on a closed or written-off account that still owes."""

from __future__ import annotations

import re

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.audit_trail import Actor, audit_record
from accounts.errors import ValidationFailed, require_permission
from accounts.ledger import lock_credit_account
from accounts.models import CreditAccount

CHANGE_REPAYMENT_CARD = "accounts.change_repayment_card"
CARD_TOKEN_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def mask_card_token(value: str) -> str:
    """All but the last four characters of a card token hidden (audit rows, pages)."""
    return "*" * max(len(value) - 4, 0) + value[-4:] if value else ""


def repayment_card_change(*, account_id: int, card_token: str, acting_user: Actor = None,
                          reason: str = "") -> CreditAccount:
    """Put a new repayment card on the account (audited, the token masked). A member of staff
    needs the permission and a reason; the storefront acts for its customer. Refused with
    ``invalid_request`` (400) for a token that is not 1–64 letters, digits, ``_`` or ``-``."""
    staff = isinstance(acting_user, AbstractBaseUser)
    if staff:
        require_permission(acting_user, CHANGE_REPAYMENT_CARD, _("You may not change repayment cards."))
    token = card_token.strip() if isinstance(card_token, str) else ""
    if not CARD_TOKEN_RE.match(token):
        raise ValidationFailed(_("Give the card token the payment gateway issued."),
                               details={"repayment_card_token": [str(_("1 to 64 letters, digits, _ or -"))]})
    note = reason.strip() if isinstance(reason, str) else ""
    if staff and not note:
        raise ValidationFailed(_("Say why the repayment card is changed."),
                               details={"reason": [str(_("this field is required"))]})
    with transaction.atomic(durable=True):
        account = lock_credit_account(account_id)
        old = account.repayment_card_token
        if old == token:
            return account
        account.repayment_card_token = token
        account.save(update_fields=["repayment_card_token", "updated_at"])
        audit_record(acting_user=acting_user, action="account.repayment_card_changed", obj=account,
                     before={"repayment_card_token": mask_card_token(old)},
                     after={"repayment_card_token": mask_card_token(token)}, reason=note or "changed by the customer")
    return account
