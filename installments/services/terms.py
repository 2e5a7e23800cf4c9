"""The loan's terms (docs/rules.md §5, §7): a plan keeps the grace days, penalty rate, retry
ladder, retry interval and write-off age of the policy version it was booked under; a later
policy applies to later plans only.

An account's collection follows the terms of the debt it collects first: the plan of its
oldest unpaid installment. A penalty is the sum, over the overdue plans, of their overdue
principal times their own rate, once the oldest overdue plan is past its grace."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from installments.models import Installment, InstallmentPlan, InstallmentState
from risk.policy import PolicyParams


@dataclass(frozen=True)
class Terms:
    grace_days: int
    penalty_daily_rate: Decimal
    debit_retry_offsets_days: tuple[int, ...]
    debit_recovery_interval_days: int
    write_off_days: int

    @classmethod
    def of_policy(cls, params: PolicyParams) -> Terms:
        return cls(grace_days=params.grace_days, penalty_daily_rate=params.penalty_daily_rate,
                   debit_retry_offsets_days=tuple(params.debit_retry_offsets_days),
                   debit_recovery_interval_days=params.debit_recovery_interval_days,
                   write_off_days=params.write_off_days)

    @classmethod
    def of_plan(cls, plan: InstallmentPlan) -> Terms:
        return cls(grace_days=plan.grace_days, penalty_daily_rate=plan.penalty_daily_rate,
                   debit_retry_offsets_days=tuple(int(d) for d in plan.debit_retry_offsets_days),
                   debit_recovery_interval_days=plan.debit_recovery_interval_days,
                   write_off_days=plan.write_off_days)

    def plan_fields(self) -> dict[str, object]:
        """The plan's columns that keep these terms."""
        return {"grace_days": self.grace_days, "penalty_daily_rate": self.penalty_daily_rate,
                "debit_retry_offsets_days": list(self.debit_retry_offsets_days),
                "debit_recovery_interval_days": self.debit_recovery_interval_days,
                "write_off_days": self.write_off_days}


TERM_FIELDS = ("grace_days", "penalty_daily_rate", "debit_retry_offsets_days", "debit_recovery_interval_days",
               "write_off_days")


def plan_terms(plan_ids: set[int]) -> dict[int, Terms]:
    """The terms of these plans (one query)."""
    return {plan.pk: Terms.of_plan(plan)
            for plan in InstallmentPlan.objects.filter(pk__any_of=plan_ids).only("id", *TERM_FIELDS)}


def collection_terms(account_ids: list[int], *, default: Terms) -> dict[int, Terms]:
    """Each account's collection terms: those of the plan of its oldest open installment;
    ``default`` (the active policy's) for an account with nothing open. Two queries."""
    oldest = dict(Installment.objects.filter(account_id__any_of=account_ids, state=InstallmentState.OPEN)
                  .order_by("account_id", "due_date", "id").distinct("account_id")
                  .values_list("account_id", "plan_id"))
    terms = plan_terms(set(oldest.values()))
    return {account_id: terms[oldest[account_id]] if account_id in oldest else default for account_id in account_ids}
