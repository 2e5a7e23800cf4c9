"""Why do activations fail? Applications per business day by outcome, the reasons of those
not approved, and the days the identity provider was unavailable (docs/decisions/0035).

An application counts on its ``business_date`` (the day it was submitted), in its status
now. Its reason is the code of its first stored reason (the decision's, or
``UPSTREAM_UNAVAILABLE`` while it waits for the provider). It *met an outage* when the
provider failed at least once for it: it is waiting (``pending_retry``), it needed more than
one identity attempt (a success ends the retries, so every attempt but the last failed; an
application sent to review after the retries ran out made seven). One query of the day,
the status, the identity attempts and the first reason's code (a stored generated column of
``reasons``, risk/migrations/0007): the JSON of the reasons is never read here, and the index
``application_business_date_cov`` covers the four columns (docs/decisions/0036)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from django.db.models import BooleanField, Case, Count, ExpressionWrapper, F, Q, When

from risk.models import Application, ApplicationStatus

from .period import Period

# sent to review after the retries ran out: 7 attempts, so ``identity_attempts`` covers it
PROVIDER_FAILED = Q(status=ApplicationStatus.PENDING_RETRY) | Q(identity_attempts__gte=2)
OUTCOMES = (ApplicationStatus.APPROVED, ApplicationStatus.REJECTED, ApplicationStatus.IN_REVIEW,
            ApplicationStatus.PENDING_RETRY, ApplicationStatus.RECEIVED)
NO_REASON = "-"


@dataclass
class ApplicationFigures:
    days: list[date]
    outcomes: dict[date, Counter[str]] = field(default_factory=dict)  # day → status → applications
    reasons: dict[date, Counter[str]] = field(default_factory=dict)  # day → reason code → not approved
    outages: Counter[date] = field(default_factory=Counter)  # day → applications that met the provider down

    def total(self, status: str) -> int:
        return sum(day[status] for day in self.outcomes.values())

    def reason_totals(self) -> list[tuple[str, int]]:
        totals: Counter[str] = Counter()
        for day in self.reasons.values():
            totals.update(day)
        return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def applications_per_day(period: Period) -> ApplicationFigures:
    rows = (Application.objects.filter(business_date__gte=period.start, business_date__lte=period.end)
            # the reason counts only for those not approved
            .annotate(reason_code=Case(When(~Q(status=ApplicationStatus.APPROVED), then=F("first_reason_code"))),
                      provider_failed=ExpressionWrapper(PROVIDER_FAILED, output_field=BooleanField()))
            .values("business_date", "status", "reason_code", "provider_failed")
            .annotate(n=Count("id")).order_by())
    figures = ApplicationFigures(days=period.dates())
    for row in rows:
        day = row["business_date"]
        figures.outcomes.setdefault(day, Counter())[row["status"]] += row["n"]
        if row["status"] != ApplicationStatus.APPROVED:
            figures.reasons.setdefault(day, Counter())[row["reason_code"] or NO_REASON] += row["n"]
        if row["provider_failed"]:
            figures.outages[day] += row["n"]
    return figures
