"""Credit lines for tests that live them through the nightly close: an account of its own
person, purchases on it, closes up to a day, and the ledger's verdict."""

from __future__ import annotations

import zlib
from datetime import date
from decimal import Decimal
from io import StringIO

from django.core.management import call_command
from django.db import transaction

from accounts import ledger_checks
from accounts.lifecycle import credit_line
from accounts.models import CreditAccount
from conftest import id_number_for, upsert_customer
from installments.models import Purchase
from installments.services.purchases import purchase_create
from installments.services.refunds import refund_create
from installments.services.repayments import repayment_create
from risk.models import ScoringPolicy
from risk.services.policies import policy_activate, policy_draft_create, policy_draft_update


def open_account(card: str, limit: str = "1000.00", n: int = 1, *, external_id: str = "") -> CreditAccount:
    """An active account of a person of its own (one ID number per store id)."""
    external_id = external_id or f"cob-{card}-{n}"
    customer = upsert_customer(external_id=external_id, name="Zhao Liu",
                               id_number=id_number_for(zlib.crc32(external_id.encode()) % 28000),
                               phone=f"1380000{n:04d}", store_status="normal", store_since=date(2020, 1, 1),
                               orders_12m=10, spend_12m=Decimal("9000.00"), return_rate=Decimal("0.01"))
    with transaction.atomic():
        return credit_line.open_account(customer=customer, credit_limit=Decimal(limit), card_token=card,
                                        policy_version_id=ScoringPolicy.objects.get(status="active").pk,
                                        reason_code="ACCOUNT_OPENED", acting_user=None)


def buy(account: CreditAccount, amount: str = "300.00", periods: int = 3, order: str = "o-1") -> Purchase:
    purchase, _ = purchase_create(account_id=account.pk, merchant_order_id=order, amount=Decimal(amount),
                                  periods=periods)
    return purchase


def close_until(day: date) -> str:
    out = StringIO()
    call_command("close_business_day", "--until", day.isoformat(), stdout=out)
    return out.getvalue()


def assert_ledger_ok() -> None:
    violations, _ = ledger_checks.run_all()
    assert violations == [], violations


def activate_policy(author, activator, **changes):
    """A new policy version with ``changes`` drafted by ``author`` and activated by
    ``activator`` (another risk manager: four eyes)."""
    draft = policy_draft_create(acting_user=author)
    policy_draft_update(policy_id=draft.pk, params={**draft.params, **changes}, notes="", acting_user=author)
    return policy_activate(policy_id=draft.pk, acting_user=activator, reason_text="test")


def credit_of(account: CreditAccount, amount: str) -> CreditAccount:
    """Give ``account`` (card tok_ok or none) a credit balance of ``amount``: a pay-later
    purchase repaid in full, then refunded by ``amount``."""
    purchase = buy(account, amount=amount, periods=1, order=f"credit-{account.pk}")
    repayment_create(account_id=account.pk, reference=f"credit-{account.pk}", amount=Decimal(amount))
    refund_create(purchase_id=purchase.pk, merchant_refund_id=f"credit-{account.pk}", amount=Decimal(amount))
    account.refresh_from_db()
    assert account.credit_balance == Decimal(amount)
    return account
