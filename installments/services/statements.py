"""Statements and bill installment (docs/rules.md §5): on the account's billing day the close
issues a statement of what falls due in the next month, what is overdue and the penalties;
until the statement's earliest due date its pay-later items may be converted into a plan."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.audit_trail import Actor, audit_record
from accounts.business_day import business_date_get
from accounts.errors import BusinessRuleRefused, NotFound
from accounts.ledger import lock_credit_account, lock_credit_accounts
from accounts.models import CreditAccount
from accounts.money import ZERO
from installments.models import BillConversion, Installment, InstallmentPlan, InstallmentState, PlanKind, Statement
from installments.schedules import add_months
from risk.selectors import active_policy

from .plans import create_plan, fee_rate


def statement_issue(*, account_id: int, statement_date: date) -> Statement:
    """Issue one account's statement for ``statement_date`` (idempotent: one per day)."""
    statements_issue_accounts(account_ids=[account_id], statement_date=statement_date)
    return Statement.objects.get(account_id=account_id, statement_date=statement_date)


def statements_issue_accounts(*, account_ids: list[int], statement_date: date) -> int:
    """Issue the statements of ``statement_date`` for a chunk of accounts (the close's `issue_statements` step):
    one transaction and five SQL statements for the whole chunk. Accounts that already have
    the day's statement are left as they are. Returns how many it issued."""
    with transaction.atomic(durable=True):
        accounts = lock_credit_accounts(account_ids)
        issued = set(Statement.objects.filter(account_id__any_of=account_ids, statement_date=statement_date)
                     .values_list("account_id", flat=True))
        horizon = add_months(statement_date, 1)
        items_by_account: dict[int, list[Installment]] = {pk: [] for pk in accounts if pk not in issued}
        for inst in (Installment.objects.filter(account_id__any_of=list(items_by_account), state=InstallmentState.OPEN,
                                                due_date__lte=horizon).order_by("due_date", "id")):
            items_by_account[inst.account_id].append(inst)
        statements = [_statement_for(accounts[pk], statement_date, items) for pk, items in sorted(items_by_account.items())]
        Statement.objects.bulk_create(statements)
        Through = Statement.installments.through
        Through.objects.bulk_create([Through(statement_id=statement.pk, installment_id=inst.pk)
                                     for statement in statements for inst in items_by_account[statement.account_id]])
    return len(statements)


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


def bill_installment_create(*, statement_id: int, periods: int, acting_user: Actor = None) -> InstallmentPlan:
    """Convert the statement's unpaid pay-later items into a 3/6/12 plan, until the
    statement's earliest due date. Installment k is due k months after the statement date."""
    account_id = Statement.objects.filter(pk=statement_id).values_list("account_id", flat=True).first()
    if account_id is None:
        raise NotFound(_("No such statement."))
    with transaction.atomic(durable=True):
        account = lock_credit_account(account_id)
        statement = Statement.objects.get(pk=statement_id)
        today = business_date_get()
        if periods == 1:
            raise BusinessRuleRefused(_("A bill can be split into 3, 6 or 12 installments."), code="invalid_term",
                                      details={"installments": [_("choose 3, 6 or 12")]})
        policy = active_policy()
        fee_rate(policy.parsed, periods)
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
        by_purchase: dict[int, Decimal] = defaultdict(lambda: ZERO)
        for inst in convertible:
            assert inst.purchase_id is not None  # a pay-later installment belongs to its purchase
            by_purchase[inst.purchase_id] += inst.principal_unpaid
            inst.principal_cancelled += inst.principal_unpaid
            inst.state = InstallmentState.CANCELLED if inst.principal_paid == 0 else InstallmentState.PAID
            inst.save(update_fields=["principal_cancelled", "state"])
        plan = create_plan(account=account, kind=PlanKind.BILL, principal=principal, periods=periods,
                           start=statement.statement_date, statement=statement, policy=policy)
        # what each purchase brought into the plan: a later refund of it reduces the plan
        BillConversion.objects.bulk_create([BillConversion(plan=plan, purchase_id=purchase_id, principal=amount)
                                            for purchase_id, amount in sorted(by_purchase.items())])
        audit_record(acting_user=acting_user, action="statement.converted", obj=statement,
                     after={"plan_id": plan.pk, "principal": str(principal), "periods": periods})
    return plan
