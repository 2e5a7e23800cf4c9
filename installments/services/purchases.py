"""Purchases on a credit line (docs/rules.md §5)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.audit_trail import Actor
from accounts.business_day import business_date_get
from accounts.errors import BusinessRuleRefused, Conflict
from accounts.ledger import Leg, lock_credit_account, post_entry
from accounts.lifecycle.states import AccountStatus
from accounts.models import Book
from accounts.money import to_money
from installments.models import PlanKind, Purchase
from risk.selectors import active_policy

from .plans import create_plan, fee_rate


def purchase_create(*, account_id: int, merchant_order_id: str, amount: Decimal, periods: int,
                    acting_user: Actor = None) -> tuple[Purchase, bool]:
    """Book a purchase on an active account within its available limit.

    The same ``merchant_order_id`` with the same amount and term returns the first purchase
    (created=False); with anything else it is a 409 ``duplicate_order``.
    """
    amount = to_money(amount)
    if amount <= 0:
        raise BusinessRuleRefused(_("The amount must be positive."), code="invalid_amount")
    with transaction.atomic(durable=True):
        account = lock_credit_account(account_id)
        existing = Purchase.objects.filter(account=account, merchant_order_id=merchant_order_id).first()
        if existing is not None:
            if existing.amount == amount and existing.periods == periods:
                return existing, False
            raise Conflict(_("This merchant order was already booked with different details."), code="duplicate_order",
                           details={"purchase_id": str(existing.pk)})
        if account.status != AccountStatus.ACTIVE:
            raise BusinessRuleRefused(_("The credit account is %(status)s; only active accounts can buy.") % {
                                          "status": account.get_status_display()},
                                      code="account_not_active", details={"status": account.status})
        policy = active_policy()
        fee_rate(policy.parsed, periods)
        if amount > account.available_limit:
            raise BusinessRuleRefused(_("The amount is more than the available limit."), code="insufficient_limit",
                                      details={"available_limit": f"{account.available_limit:.2f}"})
        today = business_date_get()
        purchase = Purchase.objects.create(account=account, merchant_order_id=merchant_order_id, amount=amount,
                                           periods=periods, business_date=today)
        create_plan(account=account, kind=PlanKind.PURCHASE, principal=amount, periods=periods, start=today,
                    purchase=purchase, policy=policy)
        post_entry(account=account, key=f"purchase:{purchase.pk}", new_key=True, kind="purchase", business_date=today,
                   description=f"purchase {merchant_order_id}", acting_user=acting_user,
                   legs=[Leg(Book.PRINCIPAL_RECEIVABLE, amount), Leg(Book.MERCHANT_SETTLEMENT, -amount)])
    return purchase, True
