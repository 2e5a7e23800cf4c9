"""Complaint volume: complaints received per day by category, and how many of them breached
a regulatory deadline (acknowledgement or final response; docs/rules.md §10).

A complaint counts on the local date (Asia/Shanghai) of ``received_at``, in its category and
breach flags now — a complaint received in the range that breaches later counts once it has.
One query bounded by the range's instants; ``complaints_complaint`` needs an index on
``received_at`` on a large book (decision 0035)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Q
from django.db.models.functions import TruncDate

from complaints.models import Complaint

from .period import Period

BREACHED = Q(acknowledge_breached=True) | Q(response_breached=True)


@dataclass
class ComplaintFigures:
    days: list[date]
    by_day: dict[date, Counter[str]] = field(default_factory=dict)  # day → category → complaints
    breached: Counter[date] = field(default_factory=Counter)  # day → complaints received that day and breached
    breached_by_category: Counter[str] = field(default_factory=Counter)

    def category_totals(self) -> list[tuple[str, int, int]]:
        """(category, complaints, breached), most complaints first."""
        totals: Counter[str] = Counter()
        for day in self.by_day.values():
            totals.update(day)
        return [(category, n, self.breached_by_category[category])
                for category, n in sorted(totals.items(), key=lambda item: (-item[1], item[0]))]


def complaints_per_day(period: Period) -> ComplaintFigures:
    first, after = period.instants()
    rows = (Complaint.objects.filter(received_at__gte=first, received_at__lt=after)
            .annotate(day=TruncDate("received_at", tzinfo=ZoneInfo(settings.TIME_ZONE)))
            .values("day", "category").annotate(n=Count("id"), breached=Count("id", filter=BREACHED)).order_by())
    figures = ComplaintFigures(days=period.dates())
    for row in rows:
        figures.by_day.setdefault(row["day"], Counter())[row["category"]] += row["n"]
        figures.breached[row["day"]] += row["breached"]
        figures.breached_by_category[row["category"]] += row["breached"]
    return figures
