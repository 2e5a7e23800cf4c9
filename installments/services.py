"""Writes of purchases, plans, refunds, statements and fee posting. Every money-moving
service runs in one transaction, locks the credit account row first, and books through
``accounts.ledger`` — the only writer of journal lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _

from accounts import services as account_services
from accounts.errors import BusinessRuleRefused, Conflict, NotFound, require_permission
from accounts.ledger import (
    EntrySpec,
    Leg,
    lock_credit_account,
    lock_credit_accounts,
    post_entries,
    post_entry,
    save_accounts,
)
from accounts.models import AccountStatus, Book, CreditAccount
from accounts.money import ZERO, to_money
from risk.models import ScoringPolicy
from risk.selectors import active_policy

from .models import Installment, InstallmentPlan, InstallmentState, PlanKind, Purchase, Refund, Statement
from .schedules import add_months, build_schedule


def _fee_rate(params, periods: int) -> Decimal:
    rate = params.term_fee_rates.get(str(periods))
    if rate is None:
        raise BusinessRuleRefused(_("%(periods)s installments is not an offered term.") % {"periods": periods}, code="invalid_term",
                                  details={"installments": [f"choose one of {', '.join(params.term_fee_rates)}"]})
    return rate


def _create_plan(*, account: CreditAccount, kind: str, principal: Decimal, periods: int, start: date,
                 purchase: Purchase | None = None, statement: Statement | None = None,
                 policy: ScoringPolicy | None = None) -> InstallmentPlan:
    policy = policy or active_policy()  # the caller's, read once in its transaction
    params = policy.parsed
    rate = _fee_rate(params, periods)
    schedule = build_schedule(principal=principal, periods=periods, start=start, fee_rate=rate,
                              pay_later_days=params.pay_later_days)
    plan = InstallmentPlan.objects.create(
        account=account, kind=kind, purchase=purchase, statement=statement, principal=principal, periods=periods,
        fee_rate=rate, fee_per_period=schedule[0].fee, start_date=start, policy_version=policy)
    Installment.objects.bulk_create([
        Installment(plan=plan, account=account, purchase=purchase, seq=item.seq, due_date=item.due_date,
                    principal=item.principal, fee=item.fee)
        for item in schedule
    ])
    return plan


# --- purchases -----------------------------------------------------------------------------


def purchase_create(*, account_id: int, merchant_order_id: str, amount: Decimal, periods: int) -> tuple[Purchase, bool]:
    """Book a purchase on an active account within its available limit (DOMAIN.md §5).

    The same ``merchant_order_id`` with the same amount and term returns the first purchase
    (created=False); with anything else it is a 409 ``duplicate_order``.
    """
    amount = to_money(amount)
    if amount <= 0:
        raise BusinessRuleRefused(_("The amount must be positive."), code="invalid_amount")
    with transaction.atomic():
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
        _fee_rate(policy.parsed, periods)
        if amount > account.available_limit:
            raise BusinessRuleRefused(_("The amount is more than the available limit."), code="insufficient_limit",
                                      details={"available_limit": f"{account.available_limit:.2f}"})
        today = account_services.business_date_get()
        purchase = Purchase.objects.create(account=account, merchant_order_id=merchant_order_id, amount=amount,
                                           periods=periods, business_date=today)
        _create_plan(account=account, kind=PlanKind.PURCHASE, principal=amount, periods=periods, start=today,
                     purchase=purchase, policy=policy)
        post_entry(account=account, key=f"purchase:{purchase.pk}", new_key=True, kind="purchase", business_date=today,
                   description=f"purchase {merchant_order_id}",
                   legs=[Leg(Book.PRINCIPAL_RECEIVABLE, amount), Leg(Book.MERCHANT_SETTLEMENT, -amount)])
    return purchase, True


# --- refunds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundResult:
    refund: Refund
    created: bool
    available_limit: Decimal


def refund_create(*, purchase_id: int, merchant_refund_id: str, amount: Decimal) -> RefundResult:
    """A merchant refund: reduces the purchase's unpaid principal from the last installment;
    fully covered installments are cancelled and their fees waived; any part already paid
    becomes credit balance; the limit comes back by the principal reduced."""
    amount = to_money(amount)
    if amount <= 0:
        raise BusinessRuleRefused(_("The amount must be positive."), code="invalid_amount")
    account_id = Purchase.objects.filter(pk=purchase_id).values_list("account_id", flat=True).first()
    if account_id is None:
        raise NotFound(_("No such purchase."))
    with transaction.atomic():
        account = lock_credit_account(account_id)
        purchase = Purchase.objects.select_for_update().get(pk=purchase_id)
        existing = Refund.objects.filter(purchase=purchase, merchant_refund_id=merchant_refund_id).first()
        if existing is not None:
            if existing.amount == amount:
                return RefundResult(existing, False, account.available_limit)
            raise Conflict(_("This merchant refund was already booked with a different amount."),
                           code="duplicate_refund", details={"refund_id": str(existing.pk)})
        refundable = purchase.amount - purchase.refunded_amount
        if amount > refundable:
            raise BusinessRuleRefused(_("The refund is more than what is left of the purchase."),
                                      code="refund_exceeds_purchase", details={"refundable": f"{refundable:.2f}"})
        today = account_services.business_date_get()
        remaining = amount
        principal_reduced = ZERO
        fees_waived_posted = ZERO
        fees_waived = ZERO
        waived_legs: list[Leg] = []
        installments = list(Installment.objects.select_for_update().filter(purchase=purchase).order_by("-seq"))
        for inst in installments:
            if remaining == 0:
                break
            cut = min(remaining, inst.principal_unpaid)
            if cut <= 0:
                continue
            inst.principal_cancelled += cut
            remaining -= cut
            principal_reduced += cut
            if inst.principal_unpaid == 0:  # fully covered: cancelled, its fee waived
                open_fee = inst.fee - inst.fee_paid - inst.fee_waived
                if open_fee > 0:
                    if inst.fee_posted:
                        fees_waived_posted += open_fee
                        waived_legs.append(Leg(Book.FEE_RECEIVABLE, -open_fee, inst.pk))
                    inst.fee_waived += open_fee
                    fees_waived += open_fee
                inst.state = (InstallmentState.CANCELLED if inst.principal_paid == 0 and inst.fee_paid == 0
                              else InstallmentState.PAID)
                inst.paid_on = inst.paid_on or (today if inst.state == InstallmentState.PAID else None)
            inst.save()
        credit_added = remaining
        purchase.refunded_amount += amount
        purchase.save(update_fields=["refunded_amount"])
        refund = Refund.objects.create(purchase=purchase, merchant_refund_id=merchant_refund_id, amount=amount,
                                       principal_reduced=principal_reduced, credit_balance_added=credit_added,
                                       fees_waived=fees_waived, business_date=today)
        legs = [Leg(Book.MERCHANT_SETTLEMENT, amount)]
        if principal_reduced:
            legs.append(Leg(Book.PRINCIPAL_RECEIVABLE, -principal_reduced))
        if credit_added:
            legs.append(Leg(Book.CUSTOMER_CREDIT, -credit_added))
        post_entry(account=account, key=f"refund:{refund.pk}", new_key=True, kind="refund", business_date=today,
                   legs=legs, description=f"refund {merchant_refund_id} of {purchase.merchant_order_id}")
        if fees_waived_posted:
            post_entry(account=account, key=f"refund:{refund.pk}:fee_waiver", new_key=True, kind="fee_waiver",
                       business_date=today, legs=[Leg(Book.WAIVER_EXPENSE, fees_waived_posted), *waived_legs],
                       description="fees of refunded installments waived")
    return RefundResult(refund, True, account.available_limit)


# --- fees ------------------------------------------------------------------------------------


def fees_post_due(*, account_id: int, business_date: date) -> Decimal:
    """Post the fees of this account's installments due on ``business_date`` (nightly step 5).

    A fee whose principal was already fully paid or cancelled is never charged."""
    with transaction.atomic():
        account = lock_credit_account(account_id)
        due = list(Installment.objects.select_for_update()
                   .filter(account=account, due_date=business_date, fee_posted=False, state=InstallmentState.OPEN,
                           fee__gt=0))
        legs = []
        total = ZERO
        for inst in due:
            amount = inst.fee - inst.fee_waived
            inst.fee_posted = True
            inst.save(update_fields=["fee_posted"])
            if amount > 0:
                legs.append(Leg(Book.FEE_RECEIVABLE, amount, inst.pk))
                total += amount
        if total:
            post_entry(account=account, key=f"fees:{account.pk}:{business_date.isoformat()}", kind="fee",
                       business_date=business_date, legs=[*legs, Leg(Book.FEE_INCOME, -total)],
                       description=f"installment fees due {business_date}")
    return total


def fees_post_due_accounts(*, account_ids: list[int], business_date: date) -> Decimal:
    """``fees_post_due`` for a chunk of accounts (the nightly close): one transaction and a
    handful of statements for the whole chunk instead of ~8 per account; the same rows."""
    with transaction.atomic():
        accounts = lock_credit_accounts(account_ids)
        due = list(Installment.objects.select_for_update()
                   .filter(account_id__in=account_ids, due_date=business_date, fee_posted=False,
                           state=InstallmentState.OPEN, fee__gt=0))
        legs_by_account: dict[int, list[Leg]] = {}
        total = ZERO
        for inst in due:
            amount = inst.fee - inst.fee_waived
            inst.fee_posted = True
            if amount > 0:
                legs_by_account.setdefault(inst.account_id, []).append(Leg(Book.FEE_RECEIVABLE, amount, inst.pk))
                total += amount
        Installment.objects.filter(pk__in=[inst.pk for inst in due]).update(fee_posted=True)
        entries = []
        for account_id, legs in sorted(legs_by_account.items()):
            account_total = sum((leg.amount for leg in legs), ZERO)
            entries.append(EntrySpec(
                account=accounts[account_id], key=f"fees:{account_id}:{business_date.isoformat()}", kind="fee",
                business_date=business_date, legs=[*legs, Leg(Book.FEE_INCOME, -account_total)],
                description=f"installment fees due {business_date}"))
        save_accounts(post_entries(entries))
    return total


# --- statements and bill installment ------------------------------------------------------------


def statement_issue(*, account_id: int, statement_date: date) -> Statement:
    """Issue the account's statement for ``statement_date`` (idempotent: one per day)."""
    with transaction.atomic():
        account = lock_credit_account(account_id)
        existing = Statement.objects.filter(account=account, statement_date=statement_date).first()
        if existing is not None:
            return existing
        horizon = add_months(statement_date, 1)
        items = list(Installment.objects.filter(account=account, state=InstallmentState.OPEN,
                                                due_date__lte=horizon).order_by("due_date", "id"))
        statement = _statement_for(account, statement_date, items)
        statement.save()
        statement.installments.set(items)
    return statement


def _statement_for(account: CreditAccount, statement_date: date, items: list[Installment]) -> Statement:
    """The (unsaved) statement of ``statement_date`` over the account's open installments
    due up to a month after it."""
    upcoming = [i for i in items if i.due_date > statement_date]
    overdue = [i for i in items if i.due_date <= statement_date]
    principal_due = sum((i.principal_unpaid for i in upcoming), ZERO)
    fees_due = sum((i.fee - i.fee_paid - i.fee_waived for i in upcoming), ZERO)
    overdue_amount = sum((i.principal_unpaid + i.fee_unpaid for i in overdue), ZERO)
    return Statement(
        account=account, statement_date=statement_date,
        earliest_due_date=min((i.due_date for i in upcoming), default=None),
        principal_due=principal_due, fees_due=fees_due, overdue_amount=overdue_amount,
        penalties=account.penalties_outstanding,
        total_due=principal_due + fees_due + overdue_amount + account.penalties_outstanding)


def statements_issue_accounts(*, account_ids: list[int], statement_date: date) -> int:
    """``statement_issue`` for a chunk of accounts (the nightly close): one transaction and
    five statements for the whole chunk instead of ~7 per account; the same rows. Accounts
    that already have the day's statement are left as they are. Returns how many it issued."""
    with transaction.atomic():
        accounts = lock_credit_accounts(account_ids)
        issued = set(Statement.objects.filter(account_id__in=account_ids, statement_date=statement_date)
                     .values_list("account_id", flat=True))
        horizon = add_months(statement_date, 1)
        items_by_account: dict[int, list[Installment]] = {pk: [] for pk in accounts if pk not in issued}
        for inst in (Installment.objects.filter(account_id__in=list(items_by_account), state=InstallmentState.OPEN,
                                                due_date__lte=horizon).order_by("due_date", "id")):
            items_by_account[inst.account_id].append(inst)
        statements = [_statement_for(accounts[pk], statement_date, items) for pk, items in sorted(items_by_account.items())]
        Statement.objects.bulk_create(statements)
        Through = Statement.installments.through
        Through.objects.bulk_create([Through(statement_id=statement.pk, installment_id=inst.pk)
                                     for statement in statements for inst in items_by_account[statement.account_id]])
    return len(statements)


def accounts_to_bill(business_date: date) -> list[int]:
    """Open accounts whose billing day is ``business_date`` and that owe something."""
    return list(CreditAccount.objects.filter(billing_day=business_date.day).exclude(status=AccountStatus.CLOSED)
                .filter(installments__state=InstallmentState.OPEN).distinct().order_by("id")
                .values_list("id", flat=True))


def statements_issue_for(*, business_date: date) -> int:
    """Issue the statements of ``business_date`` (the nightly close calls this step)."""
    ids = accounts_to_bill(business_date)
    for account_id in ids:
        statement_issue(account_id=account_id, statement_date=business_date)
    return len(ids)


def accounts_with_fees_due(business_date: date) -> list[int]:
    return list(Installment.objects.filter(due_date=business_date, fee_posted=False, state=InstallmentState.OPEN,
                                           fee__gt=0).values_list("account_id", flat=True).distinct()
                .order_by("account_id"))


def bill_installment_create(*, statement_id: int, periods: int) -> InstallmentPlan:
    """Convert the statement's unpaid pay-later items into a 3/6/12 plan, until the
    statement's earliest due date. Installment k is due k months after the statement date."""
    account_id = Statement.objects.filter(pk=statement_id).values_list("account_id", flat=True).first()
    if account_id is None:
        raise NotFound(_("No such statement."))
    with transaction.atomic():
        account = lock_credit_account(account_id)
        statement = Statement.objects.get(pk=statement_id)
        today = account_services.business_date_get()
        if periods == 1:
            raise BusinessRuleRefused(_("A bill can be split into 3, 6 or 12 installments."), code="invalid_term",
                                      details={"installments": [_("choose 3, 6 or 12")]})
        _fee_rate(active_policy().parsed, periods)
        if statement.earliest_due_date is None or today > statement.earliest_due_date:
            raise BusinessRuleRefused(_("This statement can no longer be converted."), code="conversion_closed",
                                      details={"earliest_due_date": str(statement.earliest_due_date or "")})
        # The statement's installment ids first, then those rows by primary key: joined in one
        # query, the planner may start from every pay-later plan (a scan that grows with the book).
        on_statement = Statement.installments.through.objects.filter(statement_id=statement.pk)
        items = list(Installment.objects.select_for_update(of=("self",)).filter(
            pk__in=list(on_statement.values_list("installment_id", flat=True)),
            state=InstallmentState.OPEN, plan__kind=PlanKind.PURCHASE, plan__periods=1,
            due_date__gt=statement.statement_date))
        convertible = [i for i in items if i.principal_unpaid > 0]
        if not convertible:
            raise BusinessRuleRefused(_("Nothing on this statement can be converted."), code="conversion_closed")
        principal = sum((i.principal_unpaid for i in convertible), ZERO)
        for inst in convertible:
            inst.principal_cancelled += inst.principal_unpaid
            inst.state = InstallmentState.CANCELLED if inst.principal_paid == 0 else InstallmentState.PAID
            inst.save()
        plan = _create_plan(account=account, kind=PlanKind.BILL, principal=principal, periods=periods,
                            start=statement.statement_date, statement=statement)
        account_services.audit_record(acting_user=None, action="statement.converted", obj=statement,
                                      after={"plan_id": plan.pk, "principal": str(principal), "periods": periods})
    return plan


# --- reads used by the API ------------------------------------------------------------------------


def plans_with_installments(account_id: int):
    return (InstallmentPlan.objects.filter(account_id=account_id)
            .prefetch_related(Prefetch("installments", queryset=Installment.objects.order_by("seq"))))


# --- freezing and manual write-off (risk managers; docs/permissions.md) ----------------------

FREEZE_ACCOUNT = "accounts.freeze_account"
WRITE_OFF_ACCOUNT = "accounts.write_off_account"


def _reason_required(reason_text: str, message: str) -> str:
    from accounts.errors import ValidationFailed

    if not isinstance(reason_text, str) or not reason_text.strip():
        raise ValidationFailed(message, details={"reason": [str(_("this field is required"))]})
    return reason_text.strip()


def account_freeze(*, account_id: int, reason_text: str, acting_user) -> CreditAccount:
    """Suspected fraud: the account is ``frozen`` (no purchases; repayments still accepted).
    Risk managers only; the status change and the audit row carry who and why."""
    require_permission(acting_user, FREEZE_ACCOUNT, _("Only a risk manager may freeze credit accounts."))
    text = _reason_required(reason_text, _("Say why the account is frozen."))
    with transaction.atomic():
        account = lock_credit_account(account_id)
        if account.status not in (AccountStatus.ACTIVE, AccountStatus.SUSPENDED):
            raise Conflict(_("Only an active or suspended account can be frozen (this one is %(status)s).")
                           % {"status": account.get_status_display()}, code="account_not_freezable")
        before = account.status
        account.freeze()
        account.save(update_fields=["status", "updated_at"])
        account_services.record_status_change(account, from_status=before, reason_code="FROZEN_SUSPECTED_FRAUD",
                                              note=text, acting_user=acting_user)
    return account


def account_unfreeze(*, account_id: int, reason_text: str, acting_user) -> CreditAccount:
    """Lift a freeze. The account goes back to ``active``, or straight to ``suspended`` when it
    is overdue beyond grace or paused at the customer's request (what the nightly close
    would otherwise do a day late)."""
    require_permission(acting_user, FREEZE_ACCOUNT, _("Only a risk manager may unfreeze credit accounts."))
    text = _reason_required(reason_text, _("Say why the freeze is lifted."))
    grace_days = active_policy().parsed.grace_days
    with transaction.atomic():
        account = lock_credit_account(account_id)
        if account.status != AccountStatus.FROZEN:
            raise Conflict(_("The account is not frozen."), code="account_not_frozen")
        account.unfreeze()
        if account.days_past_due > grace_days or account.paused_by_customer:
            account.suspend()
        account.save(update_fields=["status", "updated_at"])
        account_services.record_status_change(account, from_status=AccountStatus.FROZEN, reason_code="UNFROZEN",
                                              note=text, acting_user=acting_user)
    return account


def account_write_off(*, account_id: int, reason_text: str, acting_user) -> Decimal:
    """A risk manager writes an account off before the automatic write-off age (e.g. confirmed
    fraud, deceased customer): every receivable goes to write-off expense and the account
    closes with ``MANUAL_WRITE_OFF``. Returns the amount written off."""
    from accounts.errors import BusinessRuleRefused as Refused

    from .repayments import write_off_account

    require_permission(acting_user, WRITE_OFF_ACCOUNT, _("Only a risk manager may write off credit accounts."))
    text = _reason_required(reason_text, _("Say why the account is written off."))
    with transaction.atomic():
        account = lock_credit_account(account_id)
        if account.status == AccountStatus.CLOSED:
            raise Conflict(_("The account is already closed."), code="account_closed")
        if account.outstanding_total <= ZERO:
            raise Refused(_("Nothing is owed on this account: close it instead of writing it off."),
                          code="nothing_to_write_off")
        total = write_off_account(account_id=account.pk, business_date=account_services.business_date_get(),
                                  acting_user=acting_user, reason_code="MANUAL_WRITE_OFF")
        account_services.audit_record(acting_user=acting_user, action="account.written_off", obj=account,
                                      after={"amount": str(total)}, reason=text)
    return total
