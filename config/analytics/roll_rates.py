"""Who is rolling from one delinquency bucket to the next? Month by month, how the accounts in
each state at one month end stand at the next (docs/rules.md §7 "Roll rates").

Tally keeps no monthly snapshot of days past due (the close overwrites
``CreditAccount.days_past_due``), so each snapshot is derived from the installments' history:
at the end of business day E an account's days past due are E minus the oldest due date among
its installments due before E and not fully paid by E (``paid_on`` after E, or still open or
written off; an installment cancelled or converted without a payment date — refunded, or
moved into a bill plan before it fell due — never counts). That is the close's own rule
(``installments.services.dues.days_past_due``) replayed as of E, after E's repayments.

Each account is in one state at E:
``written_off`` (``written_off_on`` ≤ E) — else its delinquency bucket when overdue — else
``current`` when on the book (opened on or before E, not closed on or before E) — else off
the book. A pair of snapshots gives the transitions from each state at the previous month
end to each state at E (an account off the book at the previous month end is not counted;
one on the book then and off it at E is ``closed``). The snapshots are the month ends within
the range plus the range's last day when it is not one (the month so far), each compared
with the end of the month before it.

The roll rate of a state is the share of its accounts that are in a worse state at the next
snapshot (a later bucket, or written off); the cure rate, the share back to ``current``.

Limits: closure dates are the account's current ones (a reopened account has lost its
earlier closure); an installment partly paid counts as unpaid until fully paid, as in the
close. Three queries, each read once whatever the number of months: the overdue installments
(on the index of ``due_date``), the accounts overdue at some snapshot or written off, and the
book counted by opening and closing dates; the states are paired in Python."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import connection

from accounts.models import DELINQUENCY_BUCKETS, CreditAccount
from installments.models import Installment, InstallmentState

from .period import Period, month_end_before

CURRENT, WRITTEN_OFF, CLOSED, OFF_BOOK = "current", "written_off", "closed", "off_book"
OVERDUE_BUCKETS = [name for name in DELINQUENCY_BUCKETS if name != CURRENT]
# states in order of worsening; ``closed`` (left the book) is an exit, neither better nor worse
STATES = [CURRENT, *OVERDUE_BUCKETS, WRITTEN_OFF]
RANK = {state: n for n, state in enumerate(STATES)}


# Days past due at each snapshot of the accounts overdue at it (on the index of ``due_date``:
# only installments unpaid, or paid late and after the first snapshot, are read).
_OVERDUE_SQL = f"""
    SELECT s.e, i.account_id, s.e - MIN(i.due_date)
    FROM {Installment._meta.db_table} i
    JOIN (SELECT unnest(%(snapshots)s::date[]) AS e) s ON i.due_date < s.e AND (i.paid_on IS NULL OR i.paid_on > s.e)
    WHERE i.due_date < %(last)s
      AND ((i.paid_on IS NULL AND i.state IN ('{InstallmentState.OPEN}', '{InstallmentState.WRITTEN_OFF}'))
           OR (i.paid_on > i.due_date AND i.paid_on > %(first)s))
    GROUP BY 1, 2"""  # noqa: S608 - names from the code, values as parameters
# Those accounts, and every account written off by the last snapshot.
_INVOLVED_SQL = f"""
    SELECT id, opened_on, closed_on, written_off_on FROM {CreditAccount._meta.db_table} WHERE id = ANY(%(ids)s)
    UNION SELECT id, opened_on, closed_on, written_off_on FROM {CreditAccount._meta.db_table}
    WHERE written_off_on <= %(last)s"""  # noqa: S608 - as above
# The whole book by opening and closing dates (the accounts above are taken out in Python).
_BOOK_SQL = f"""
    SELECT opened_on, closed_on, COUNT(*) FROM {CreditAccount._meta.db_table} WHERE opened_on <= %(last)s
    GROUP BY 1, 2"""  # noqa: S608 - as above


def bucket_of(days_past_due: int) -> str:
    for name, (_low, high) in DELINQUENCY_BUCKETS.items():
        if name != CURRENT and (high is None or days_past_due <= high):
            return name
    raise AssertionError("the last bucket has no upper bound")


def _on_book(opened: date, closed: date | None, at: date) -> bool:
    return opened <= at and (closed is None or closed > at)


@dataclass
class RollRates:
    snapshots: list[date]  # the month ends (and the range's last day)
    previous: dict[date, date]  # snapshot → the month end it is compared with
    transitions: dict[date, Counter[tuple[str, str]]] = field(default_factory=dict)  # snapshot → (from, to) → accounts

    def accounts_in(self, snapshot: date, state: str) -> int:
        """Accounts in ``state`` at the month end before ``snapshot``."""
        return sum(n for (src, _dst), n in self.transitions.get(snapshot, Counter()).items() if src == state)

    def rolled(self, snapshot: date, state: str) -> int:
        """Of those, how many are in a worse state at ``snapshot``."""
        return sum(n for (src, dst), n in self.transitions.get(snapshot, Counter()).items()
                   if src == state and dst in RANK and RANK[dst] > RANK[state])

    def cured(self, snapshot: date, state: str) -> int:
        return sum(n for (src, dst), n in self.transitions.get(snapshot, Counter()).items()
                   if src == state and state != CURRENT and dst == CURRENT)

    def roll_rate(self, snapshot: date, state: str) -> float | None:
        """Share (0–1) of the accounts in ``state`` that rolled to a worse state; None when
        there were none."""
        base = self.accounts_in(snapshot, state)
        return self.rolled(snapshot, state) / base if base else None

    def matrix(self) -> Counter[tuple[str, str]]:
        """Transitions summed over every snapshot of the range."""
        total: Counter[tuple[str, str]] = Counter()
        for counts in self.transitions.values():
            total.update(counts)
        return total


def roll_rates(period: Period) -> RollRates:
    ends = period.month_ends()
    previous = {end: month_end_before(end) for end in ends}
    rates = RollRates(snapshots=ends, previous=previous)
    params: dict[str, Any] = {"snapshots": sorted(set(ends) | set(previous.values())), "previous": [previous[e] for e in ends],
              "ends": ends, "first": min(previous.values()), "last": max(ends)}
    with connection.cursor() as cursor:
        cursor.execute(_OVERDUE_SQL, params)
        dpd = {(account_id, at): days for at, account_id, days in cursor.fetchall()}
        cursor.execute(_INVOLVED_SQL, {**params, "ids": sorted({account_id for account_id, _at in dpd})})
        involved = cursor.fetchall()
        cursor.execute(_BOOK_SQL, params)
        book = cursor.fetchall()

    buckets = {key: bucket_of(days) for key, days in dpd.items()}
    overdue_at: dict[date, set[int]] = {}
    for account_id, at in dpd:
        overdue_at.setdefault(at, set()).add(account_id)
    accounts = {account_id: (opened, closed, written_off) for account_id, opened, closed, written_off in involved}
    written_off_on = [(account_id, written_off) for account_id, (_o, _c, written_off) in accounts.items()
                      if written_off is not None]

    def state(account_id: int, opened: date, closed: date | None, written_off: date | None, at: date) -> str:
        if written_off is not None and written_off <= at:
            return WRITTEN_OFF
        bucket = buckets.get((account_id, at))
        if bucket is not None:
            return bucket
        return CURRENT if opened <= at and (closed is None or closed > at) else OFF_BOOK

    for end in ends:
        before = previous[end]
        counts = rates.transitions.setdefault(end, Counter())
        # every account as if never overdue: current whenever on the book (comparisons inline:
        # the book's (opened, closed) pairs times the months is the page's longest loop)
        stayed = left = 0
        for opened, closed, n in book:
            if opened <= before and (closed is None or closed > before):
                if closed is None or closed > end:
                    stayed += n
                else:
                    left += n
        # the accounts overdue at either month end or written off by the later one: taken out of
        # the above and counted by their states (any other account is current, or closed, at
        # both ends exactly as the book above already counts it)
        ids = overdue_at.get(before, set()) | overdue_at.get(end, set()) | {
            account_id for account_id, written_off in written_off_on if written_off <= end}
        for account_id in ids:
            opened, closed, written_off = accounts[account_id]
            if _on_book(opened, closed, before):
                if _on_book(opened, closed, end):
                    stayed -= 1
                else:
                    left -= 1
            src = state(account_id, opened, closed, written_off, before)
            if src == OFF_BOOK:
                continue  # not on the book at the month end before: not in any denominator
            dst = state(account_id, opened, closed, written_off, end)
            counts[(src, CLOSED if dst == OFF_BOOK else dst)] += 1
        counts[(CURRENT, CURRENT)] += stayed
        counts[(CURRENT, CLOSED)] += left
        rates.transitions[end] = +counts  # drop the pairs that came to 0
    return rates
