"""What an account owes: its open penalties and installments, as the allocation rules read
them (docs/rules.md §6, §7)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import QuerySet

from installments import allocation
from installments.models import Installment, InstallmentState, Penalty


@dataclass
class OpenItems:
    """An account's unpaid penalties (oldest first) and open installments (by due date)."""

    penalties: list[Penalty] = field(default_factory=list)
    installments: list[Installment] = field(default_factory=list)

    def allocation_input(self) -> tuple[list[allocation.OpenPenalty], list[allocation.OpenInstallment]]:
        return ([allocation.OpenPenalty(p.pk, p.business_date, p.unpaid) for p in self.penalties],
                [allocation.OpenInstallment(i.pk, i.due_date, i.fee_unpaid, i.principal_unpaid)
                 for i in self.installments])

    def due_total(self, as_of: date) -> Decimal:
        """What is due or overdue on ``as_of``, with the fees due by then that are not posted yet
        (a repayment posts them before it is allocated, so a charge for the dues covers them
        even when the close's ``post_fees`` step has not run for the account)."""
        return allocation.due_total(*self.allocation_input(), as_of=as_of) + self.fees_unposted_by(as_of)

    def payoff_total(self) -> Decimal:
        return allocation.payoff_total(*self.allocation_input())

    def fees_unposted_by(self, as_of: date) -> Decimal:
        return sum((i.fee - i.fee_waived - i.fee_paid for i in self.installments
                    if not i.fee_posted and i.fee > 0 and i.due_date <= as_of), Decimal("0.00"))


def open_items(account_ids: list[int], *, lock: bool) -> dict[int, OpenItems]:
    """The open items of many accounts with two statements (``lock``: FOR UPDATE, inside the
    caller's transaction)."""
    penalties, installments = open_items_queries(account_ids, lock=lock)
    return open_items_from(list(penalties), list(installments))


def open_items_queries(account_ids: list[int], *, lock: bool) -> tuple[QuerySet[Penalty], QuerySet[Installment]]:
    """What ``open_items`` reads, for a booking reading it with others in one round trip
    (``accounts.round_trips.read_together``); ``open_items_from`` groups their rows."""
    penalties = Penalty.objects.filter(account_id__any_of=account_ids, amount__gt=0).order_by("business_date", "id")
    installments = (Installment.objects.filter(account_id__any_of=account_ids, state=InstallmentState.OPEN)
                    .order_by("due_date", "id"))
    if lock:
        penalties = penalties.select_for_update()
        installments = installments.select_for_update()
    return penalties, installments


def open_items_from(penalties: list[Penalty], installments: list[Installment]) -> dict[int, OpenItems]:
    items: dict[int, OpenItems] = defaultdict(OpenItems)
    for penalty in penalties:
        if penalty.unpaid > 0:
            items[penalty.account_id].penalties.append(penalty)
    for inst in installments:
        items[inst.account_id].installments.append(inst)
    return items


def oldest_overdue_date(installments: list[Installment], as_of: date) -> date | None:
    overdue = [i.due_date for i in installments
               if i.due_date < as_of and (i.principal_unpaid > 0 or i.fee_unpaid > 0)]
    return min(overdue, default=None)


def days_past_due(installments: list[Installment], as_of: date) -> int:
    """Days since the oldest installment still unpaid after its due date (0: nothing overdue)."""
    oldest = oldest_overdue_date(installments, as_of)
    return (as_of - oldest).days if oldest else 0
