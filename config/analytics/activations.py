"""Why do activations fail? Applications per business day by outcome, the reasons of those
not approved, and the days the identity provider was unavailable (docs/decisions/0035).

An application counts on its ``business_date`` (the day it was submitted), in its status
now. Its reason is the code of its first stored reason (the decision's, or
``UPSTREAM_UNAVAILABLE`` while it waits for the provider). It *met an outage* when the
provider failed at least once for it: it is waiting (``pending_retry``), it needed more than
one identity attempt (a success ends the retries, so every attempt but the last failed; an
application sent to review after the retries ran out made seven). The database keeps these
counts per day as applications are written (``risk.day_counts``, decision 0040): one query
reads a few rows per day, whatever the number of applications."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from risk.day_counts import application_day_counts
from risk.models import ApplicationStatus

from .period import Period

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
    figures = ApplicationFigures(days=period.dates())
    for day, status, reason, provider_failed, n in application_day_counts(period.start, period.end):
        figures.outcomes.setdefault(day, Counter())[status] += n
        if status != ApplicationStatus.APPROVED:
            figures.reasons.setdefault(day, Counter())[reason or NO_REASON] += n
        if provider_failed:
            figures.outages[day] += n
    return figures
