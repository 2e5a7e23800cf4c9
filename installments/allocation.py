"""Repayment allocation as a pure function (docs/rules.md §6): penalties oldest first, then due
installments oldest due date first — fee before principal — then any rest prepays
not-yet-due principal in due-date order. Unposted (future) fees are never charged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from accounts.money import ZERO


@dataclass(frozen=True)
class OpenPenalty:
    id: int
    business_date: date
    unpaid: Decimal


@dataclass(frozen=True)
class OpenInstallment:
    id: int
    due_date: date
    fee_unpaid: Decimal  # posted and unpaid
    principal_unpaid: Decimal


@dataclass(frozen=True)
class Allocation:
    installment_id: int | None
    penalty_id: int | None
    penalty: Decimal = ZERO
    fee: Decimal = ZERO
    principal: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.penalty + self.fee + self.principal


def payoff_total(penalties: list[OpenPenalty], installments: list[OpenInstallment]) -> Decimal:
    return (sum((p.unpaid for p in penalties), ZERO)
            + sum((i.fee_unpaid + i.principal_unpaid for i in installments), ZERO))


def due_total(penalties: list[OpenPenalty], installments: list[OpenInstallment], *, as_of: date) -> Decimal:
    """What is due or overdue on ``as_of`` (the auto-debit amount)."""
    return (sum((p.unpaid for p in penalties), ZERO)
            + sum((i.fee_unpaid + i.principal_unpaid for i in installments if i.due_date <= as_of), ZERO))


def allocate(amount: Decimal, *, penalties: list[OpenPenalty], installments: list[OpenInstallment],
             as_of: date) -> list[Allocation]:
    """Split ``amount`` (≤ payoff total, checked by the caller) over what is owed."""
    if amount <= 0:
        raise ValueError("amount must be positive")
    if amount > payoff_total(penalties, installments):
        raise ValueError("amount exceeds the payoff total")
    left = amount
    result: list[Allocation] = []
    for p in sorted(penalties, key=lambda p: (p.business_date, p.id)):
        if left == 0:
            break
        take = min(left, p.unpaid)
        if take > 0:
            result.append(Allocation(installment_id=None, penalty_id=p.id, penalty=take))
            left -= take
    # Oldest due date first: due installments come before not-yet-due ones (prepayment),
    # fee before principal; a not-yet-due fee is unposted (fee_unpaid 0) and so never charged.
    for inst in sorted(installments, key=lambda i: (i.due_date, i.id)):
        if left == 0:
            break
        fee = min(left, inst.fee_unpaid)
        left -= fee
        principal = min(left, inst.principal_unpaid)
        left -= principal
        if fee or principal:
            result.append(Allocation(installment_id=inst.id, penalty_id=None, fee=fee, principal=principal))
    assert left == 0
    return result
