"""Is the limit coming back after repayment? Per business day, the repayments that paid
principal: restored at once (nothing held), held (a restoration hold took the principal
part), and those with a restoration alert (docs/rules.md §6; docs/decisions/0035).

A repayment counts on its ``business_date``; repayments that paid no principal (penalties and
fees only, recoveries after write-off) restore nothing and are not counted. An alert counts on
its repayment's business date (on its own local date when it names no repayment). Two
queries; ``installments_repayment`` needs an index on ``business_date`` on a large book (the
report of decision 0035 names it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncDate

from accounts.money import ZERO
from installments.models import Repayment, RestorationAlert

from .period import Period


@dataclass
class RestorationDay:
    at_once: int = 0
    held: int = 0
    alerts: int = 0
    restored_amount: Decimal = ZERO
    held_amount: Decimal = ZERO


@dataclass
class RestorationFigures:
    days: list[date]
    by_day: dict[date, RestorationDay] = field(default_factory=dict)

    def total(self) -> RestorationDay:
        total = RestorationDay()
        for day in self.by_day.values():
            total.at_once += day.at_once
            total.held += day.held
            total.alerts += day.alerts
            total.restored_amount += day.restored_amount
            total.held_amount += day.held_amount
        return total


def restoration_per_day(period: Period) -> RestorationFigures:
    figures = RestorationFigures(days=period.dates())
    repayments = (Repayment.objects.filter(business_date__gte=period.start, business_date__lte=period.end,
                                           principal_paid__gt=0)
                  .values("business_date")
                  .annotate(at_once=Count("id", filter=Q(held_amount=0)), held=Count("id", filter=Q(held_amount__gt=0)),
                            restored=Sum("limit_restored"), held_sum=Sum("held_amount"))
                  .order_by())
    for row in repayments:
        figures.by_day[row["business_date"]] = RestorationDay(
            at_once=row["at_once"], held=row["held"], restored_amount=row["restored"], held_amount=row["held_sum"])
    alerts = (RestorationAlert.objects
              .annotate(day=Coalesce("repayment__business_date",
                                     TruncDate("created_at", tzinfo=ZoneInfo(settings.TIME_ZONE))))
              .filter(day__gte=period.start, day__lte=period.end)
              .values("day").annotate(n=Count("id")).order_by())
    for row in alerts:
        figures.by_day.setdefault(row["day"], RestorationDay()).alerts += row["n"]
    return figures
