"""Closures by reason, and how many customers accepted an alternative instead of closing
(docs/rules.md §9).

A closure is a status change to ``closed`` (``AccountStatusChange``), counted on its business
date by its reason code (``CUSTOMER_REQUEST``, ``FRAUD_CONFIRMED``, ``BREACH_OF_TERMS``,
``WRITE_OFF``, ``MANUAL_WRITE_OFF``; a written-off account already closed for cause has no
second closure). An alternative accepted is a closure request withdrawn with a lower limit or
a pause, counted on the local date of its decision (``decided_at``). Two queries;
``accounts_accountstatuschange`` needs an index on ``(to_status, business_date)`` on a large
book (decision 0035); closure requests are few."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count
from django.db.models.functions import TruncDate

from accounts.models import AccountStatus, AccountStatusChange
from complaints.models import ClosureRequest

from .period import Period


@dataclass
class ClosureFigures:
    days: list[date]
    closures: dict[date, Counter[str]] = field(default_factory=dict)  # day → reason code → accounts closed
    alternatives: dict[date, Counter[str]] = field(default_factory=dict)  # day → alternative → requests

    @staticmethod
    def _totals(by_day: dict[date, Counter[str]]) -> list[tuple[str, int]]:
        totals: Counter[str] = Counter()
        for day in by_day.values():
            totals.update(day)
        return sorted(totals.items(), key=lambda item: (-item[1], item[0]))

    def reason_totals(self) -> list[tuple[str, int]]:
        return self._totals(self.closures)

    def alternative_totals(self) -> list[tuple[str, int]]:
        return self._totals(self.alternatives)


def closures_per_day(period: Period) -> ClosureFigures:
    figures = ClosureFigures(days=period.dates())
    closed = (AccountStatusChange.objects
              .filter(to_status=AccountStatus.CLOSED, business_date__gte=period.start, business_date__lte=period.end)
              .values("business_date", "reason_code").annotate(n=Count("id")).order_by())
    for row in closed:
        figures.closures.setdefault(row["business_date"], Counter())[row["reason_code"]] += row["n"]
    first, after = period.instants()
    accepted = (ClosureRequest.objects.filter(decided_at__gte=first, decided_at__lt=after)
                .exclude(alternative="")
                .annotate(day=TruncDate("decided_at", tzinfo=ZoneInfo(settings.TIME_ZONE)))
                .values("day", "alternative").annotate(n=Count("id")).order_by())
    for row in accepted:
        figures.alternatives.setdefault(row["day"], Counter())[row["alternative"]] += row["n"]
    return figures
