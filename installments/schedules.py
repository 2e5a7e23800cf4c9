"""Installment schedule math as pure functions (docs/rules.md §5).

- principal per installment: principal / n truncated to the fen; the last installment takes
  the remainder, so the parts sum exactly to the principal;
- fee per period: principal × rate, rounded half-up (the same fee every period);
- installment k is due k months after the start date, the day clamped to the month's end;
  a 1-period "pay later" purchase is due ``pay_later_days`` after the purchase, with no fee.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from accounts.money import ZERO, round_half_up, to_money, truncate

TERMS = (1, 3, 6, 12)


@dataclass(frozen=True)
class ScheduledInstallment:
    seq: int
    due_date: date
    principal: Decimal
    fee: Decimal


def add_months(start: date, months: int) -> date:
    """``start`` plus ``months`` calendar months, the day clamped to the month's end."""
    month_index = start.month - 1 + months
    year = start.year + month_index // 12
    month = month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def split_principal(principal: Decimal, periods: int) -> list[Decimal]:
    principal = to_money(principal)
    if periods < 1:
        raise ValueError("periods must be at least 1")
    part = truncate(principal / periods)
    return [part] * (periods - 1) + [principal - part * (periods - 1)]


def period_fee(principal: Decimal, rate: Decimal) -> Decimal:
    return round_half_up(to_money(principal) * rate)


def build_schedule(*, principal: Decimal, periods: int, start: date, fee_rate: Decimal,
                   pay_later_days: int = 30) -> list[ScheduledInstallment]:
    """The full schedule of a plan starting on ``start`` (the purchase or statement date)."""
    if periods == 1:
        return [ScheduledInstallment(1, start + timedelta(days=pay_later_days), to_money(principal), ZERO)]
    fee = period_fee(principal, fee_rate)
    return [
        ScheduledInstallment(seq=k, due_date=add_months(start, k), principal=part, fee=fee)
        for k, part in enumerate(split_principal(principal, periods), start=1)
    ]
