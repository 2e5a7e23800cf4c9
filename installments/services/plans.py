"""Installment plans: a purchase's, or a statement's converted into installments (bill
installment). The schedule itself is a pure function (``installments.schedules``)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import connection
from django.utils.translation import gettext_lazy as _

from accounts.errors import BusinessRuleRefused
from accounts.models import CreditAccount
from installments.models import Installment, InstallmentPlan, Purchase, Statement
from installments.schedules import build_schedule
from risk.models import ScoringPolicy
from risk.policy import PolicyParams

from .terms import Terms


def fee_rate(params: PolicyParams, periods: int) -> Decimal:
    """The fee per period of a term the policy offers; refused (422 ``invalid_term``) otherwise."""
    rate = params.term_fee_rates.get(str(periods))
    if rate is None:
        raise BusinessRuleRefused(_("%(periods)s installments is not an offered term.") % {"periods": periods},
                                  code="invalid_term",
                                  details={"installments": [f"choose one of {', '.join(params.term_fee_rates)}"]})
    return rate


def create_plan(*, account: CreditAccount, kind: str, principal: Decimal, periods: int, start: date,
                policy: ScoringPolicy, purchase: Purchase | None = None,
                statement: Statement | None = None) -> InstallmentPlan:
    """The plan and its installments, under ``policy`` (read once in the caller's transaction),
    which the plan keeps as its terms."""
    if not connection.in_atomic_block:
        raise RuntimeError("create_plan runs inside the caller's transaction")
    params = policy.parsed
    rate = fee_rate(params, periods)
    schedule = build_schedule(principal=principal, periods=periods, start=start, fee_rate=rate,
                              pay_later_days=params.pay_later_days)
    plan = InstallmentPlan.objects.create(
        account=account, kind=kind, purchase=purchase, statement=statement, principal=principal, periods=periods,
        fee_rate=rate, fee_per_period=schedule[0].fee, start_date=start, policy_version=policy,
        **Terms.of_policy(params).plan_fields())
    Installment.objects.bulk_create([
        Installment(plan=plan, account=account, purchase=purchase, seq=item.seq, due_date=item.due_date,
                    principal=item.principal, fee=item.fee)
        for item in schedule
    ])
    return plan
