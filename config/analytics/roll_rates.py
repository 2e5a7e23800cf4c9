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
close. Two queries: the overdue installments (on the index of ``due_date``) and the accounts
never overdue in the range, grouped by their opening and closing dates."""

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


def _bucket_sql(dpd: str) -> str:
    whens = " ".join(f"WHEN {dpd} <= {high} THEN '{name}'" for name, (_low, high) in DELINQUENCY_BUCKETS.items()
                     if name != CURRENT and high is not None)
    last = OVERDUE_BUCKETS[-1]
    return f"CASE {whens} ELSE '{last}' END"


def _state_sql(at: str, overdue: str) -> str:
    return (f"CASE WHEN a.written_off_on <= {at} THEN '{WRITTEN_OFF}' "
            f"WHEN {overdue}.dpd IS NOT NULL THEN {_bucket_sql(overdue + '.dpd')} "
            f"WHEN a.opened_on <= {at} AND (a.closed_on IS NULL OR a.closed_on > {at}) THEN '{CURRENT}' "
            f"ELSE '{OFF_BOOK}' END")


_OVERDUE_CTE = f"""
    snapshots(e) AS (SELECT unnest(%(snapshots)s::date[])),
    pairs(p, e) AS (SELECT unnest(%(previous)s::date[]), unnest(%(ends)s::date[])),
    overdue AS (
        SELECT s.e, i.account_id, s.e - MIN(i.due_date) AS dpd
        FROM {Installment._meta.db_table} i JOIN snapshots s ON i.due_date < s.e AND (i.paid_on IS NULL OR i.paid_on > s.e)
        WHERE i.due_date < %(last)s
          AND ((i.paid_on IS NULL AND i.state IN ('{InstallmentState.OPEN}', '{InstallmentState.WRITTEN_OFF}'))
               OR (i.paid_on > i.due_date AND i.paid_on > %(first)s))
        GROUP BY s.e, i.account_id),
    involved AS (
        SELECT account_id AS id FROM overdue
        UNION SELECT id FROM {CreditAccount._meta.db_table} WHERE written_off_on <= %(last)s)"""  # noqa: S608 - names from the code, values as parameters

# transitions of the accounts overdue at some snapshot, or written off by the last one
_INVOLVED_SQL = f"""
    WITH {_OVERDUE_CTE}
    SELECT pairs.e, {_state_sql('pairs.p', 'o1')} AS from_state, {_state_sql('pairs.e', 'o2')} AS to_state, COUNT(*)
    FROM pairs CROSS JOIN involved JOIN {CreditAccount._meta.db_table} a ON a.id = involved.id
    LEFT JOIN overdue o1 ON o1.account_id = a.id AND o1.e = pairs.p
    LEFT JOIN overdue o2 ON o2.account_id = a.id AND o2.e = pairs.e
    GROUP BY 1, 2, 3"""  # noqa: S608 - as above

# the others were current whenever on the book: only their opening and closing dates matter
_NEVER_OVERDUE_SQL = f"""
    WITH {_OVERDUE_CTE},
    book AS (
        SELECT a.opened_on, a.closed_on, COUNT(*) AS n FROM {CreditAccount._meta.db_table} a
        WHERE NOT EXISTS (SELECT 1 FROM involved WHERE involved.id = a.id) AND a.opened_on <= %(last)s
        GROUP BY 1, 2)
    SELECT pairs.e, CASE WHEN b.closed_on IS NULL OR b.closed_on > pairs.e THEN '{CURRENT}' ELSE '{CLOSED}' END, SUM(b.n)
    FROM pairs JOIN book b ON b.opened_on <= pairs.p AND (b.closed_on IS NULL OR b.closed_on > pairs.p)
    GROUP BY 1, 2"""  # noqa: S608 - as above


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
        cursor.execute(_INVOLVED_SQL, params)
        rows = cursor.fetchall()
        cursor.execute(_NEVER_OVERDUE_SQL, params)
        rows += [(end, CURRENT, to_state, n) for end, to_state, n in cursor.fetchall()]
    for end, from_state, to_state, n in rows:
        if from_state == OFF_BOOK:
            continue  # not on the book at the month end before: not in any denominator
        rates.transitions.setdefault(end, Counter())[(from_state, CLOSED if to_state == OFF_BOOK else to_state)] += int(n)
    return rates
