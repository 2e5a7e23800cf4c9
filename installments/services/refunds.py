"""Merchant refunds of purchases (docs/rules.md §5)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from accounts.audit_trail import Actor
from accounts.bulk import Writes, reserve_ids_sql
from accounts.business_day import business_date_from, business_date_query
from accounts.errors import BusinessRuleRefused, Conflict, NotFound
from accounts.ledger import EntrySpec, Leg, post_new_entries, save_accounts
from accounts.models import Book, CreditAccount
from accounts.money import ZERO, to_money
from accounts.request_keys import KeyedRequest, book_keyed
from accounts.round_trips import read_together
from installments.models import BillConversion, Installment, InstallmentState, Purchase, Refund


@dataclass(frozen=True)
class RefundResult:
    refund: Refund
    created: bool
    available_limit: Decimal


def refund_create(*, purchase_id: int, merchant_refund_id: str, amount: Decimal,
                  acting_user: Actor = None, request_key: KeyedRequest | None = None) -> RefundResult:
    """A merchant refund (docs/rules.md §5): reduces the purchase's unpaid principal from the
    last installment — and, for a purchase converted into a bill plan, that plan's unpaid
    principal attributable to the purchase, last installment first; fully covered
    installments are cancelled and their fees waived; any part already paid becomes credit
    balance; the limit comes back by the principal reduced. ``request_key``: the API's
    Idempotency-Key, taken and answered in the refund's own transaction."""
    amount = to_money(amount)
    if amount <= 0:
        raise BusinessRuleRefused(_("The amount must be positive."), code="invalid_amount")
    return book_keyed(request_key, lambda: _refund(purchase_id=purchase_id, merchant_refund_id=merchant_refund_id,
                                                   amount=amount, acting_user=acting_user))


def _refund(*, purchase_id: int, merchant_refund_id: str, amount: Decimal, acting_user: Actor) -> RefundResult:
    # one round trip: the purchase's account and the purchase locked (in that order, as every
    # booking on the account locks it first), the merchant refund, the business date, the
    # installments it may reduce locked, last first, and the refund's key
    accounts, purchases, existing, calendar, own, conversions, converted, ids = read_together(
        CreditAccount.objects.select_for_update(of=("self",)).filter(purchases=purchase_id),
        Purchase.objects.select_for_update().filter(pk=purchase_id),
        Refund.objects.filter(purchase_id=purchase_id, merchant_refund_id=merchant_refund_id)[:1],
        business_date_query(),
        Installment.objects.select_for_update().filter(purchase_id=purchase_id).order_by("-seq"),
        BillConversion.objects.select_for_update().filter(purchase_id=purchase_id).order_by("-plan_id"),
        Installment.objects.select_for_update(of=("self",))
        .filter(plan__conversions__purchase_id=purchase_id).order_by("-plan_id", "-seq"),
        reserve_ids_sql(Refund, 1))
    if not accounts or not purchases:
        raise NotFound(_("No such purchase."))
    account, purchase = accounts[0], purchases[0]
    if existing:
        if existing[0].amount == amount:
            return RefundResult(existing[0], False, account.available_limit)
        raise Conflict(_("This merchant refund was already booked with a different amount."),
                       code="duplicate_refund", details={"refund_id": str(existing[0].pk)})
    refundable = purchase.amount - purchase.refunded_amount
    if amount > refundable:
        raise BusinessRuleRefused(_("The refund is more than what is left of the purchase."),
                                  code="refund_exceeds_purchase", details={"refundable": f"{refundable:.2f}"})
    today = business_date_from(calendar)
    cut = _Reduction(today)
    remaining = cut.reduce(own, amount)
    for conversion in conversions:
        if remaining == 0:
            break
        attributable = min(remaining, conversion.principal - conversion.principal_refunded)
        if attributable <= 0:
            continue
        left = cut.reduce([i for i in converted if i.plan_id == conversion.plan_id], attributable)
        conversion.principal_refunded += attributable - left
        cut.conversions.append(conversion)
        remaining -= attributable - left
    credit_added = remaining
    purchase.refunded_amount += amount
    refund = Refund(pk=ids[0][0], purchase=purchase, merchant_refund_id=merchant_refund_id, amount=amount,
                    principal_reduced=cut.principal, credit_balance_added=credit_added, fees_waived=cut.fees_waived,
                    business_date=today)
    legs = [Leg(Book.MERCHANT_SETTLEMENT, amount)]
    if cut.principal:
        legs.append(Leg(Book.PRINCIPAL_RECEIVABLE, -cut.principal))
    if credit_added:
        legs.append(Leg(Book.CUSTOMER_CREDIT, -credit_added))
    entries = [EntrySpec(account=account, key=f"refund:{refund.pk}", kind="refund", business_date=today, legs=legs,
                         description=f"refund {merchant_refund_id} of {purchase.merchant_order_id}",
                         acting_user=acting_user)]
    if cut.fees_waived_posted:
        entries.append(EntrySpec(account=account, key=f"refund:{refund.pk}:fee_waiver", kind="fee_waiver",
                                 business_date=today, legs=[Leg(Book.WAIVER_EXPENSE, cut.fees_waived_posted),
                                                            *cut.waived_legs],
                                 description="fees of refunded installments waived", acting_user=acting_user))
    # one statement: every row the refund writes
    writes = Writes()
    writes.update(cut.installments, ["principal_cancelled", "fee_waived", "state", "paid_on"])
    writes.update(cut.conversions, ["principal_refunded"])
    writes.update([purchase], ["refunded_amount"])
    writes.insert([refund], with_pk=True)
    post_new_entries(writes, entries)
    save_accounts([account], writes=writes)
    writes.execute()
    return RefundResult(refund, True, account.available_limit)


class _Reduction:
    """Principal a refund takes off installments, last first, and the fees it waives."""

    def __init__(self, today: date) -> None:
        self.today = today
        self.principal = ZERO
        self.fees_waived = ZERO
        self.fees_waived_posted = ZERO
        self.waived_legs: list[Leg] = []
        self.installments: list[Installment] = []  # the installments reduced, to be written
        self.conversions: list[BillConversion] = []  # the bill conversions refunded, to be written

    def reduce(self, installments: Iterable[Installment], amount: Decimal) -> Decimal:
        """Take up to ``amount`` off the unpaid principal of ``installments`` (in the order
        given); a fully covered one is cancelled (closed as paid if anything was paid on it)
        and its open fee waived. Returns what is left of ``amount``."""
        remaining = amount
        for inst in installments:
            if remaining == 0:
                break
            cut = min(remaining, inst.principal_unpaid)
            if inst.state != InstallmentState.OPEN or cut <= 0:
                continue
            inst.principal_cancelled += cut
            remaining -= cut
            self.principal += cut
            if inst.principal_unpaid == 0:  # fully covered: cancelled, its fee waived
                open_fee = inst.fee - inst.fee_paid - inst.fee_waived
                if open_fee > 0:
                    if inst.fee_posted:
                        self.fees_waived_posted += open_fee
                        self.waived_legs.append(Leg(Book.FEE_RECEIVABLE, -open_fee, inst.pk))
                    inst.fee_waived += open_fee
                    self.fees_waived += open_fee
                inst.state = (InstallmentState.CANCELLED if inst.principal_paid == 0 and inst.fee_paid == 0
                              else InstallmentState.PAID)
                inst.paid_on = inst.paid_on or (self.today if inst.state == InstallmentState.PAID else None)
            self.installments.append(inst)
        return remaining
