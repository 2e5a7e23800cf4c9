"""The date range of the charts: two business dates, at most ``MAX_DAYS`` days apart, read
from the page's query string. A bad date, a reversed or too long range is a form error the
page shows — never a server error."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

MAX_DAYS = 366
DEFAULT_DAYS = 90


@dataclass(frozen=True)
class Period:
    """Business dates ``start`` to ``end``, both included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("a period ends on or after its start")
        if self.days > MAX_DAYS:
            raise ValueError(f"a period spans at most {MAX_DAYS} days")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range(self.days)]

    def instants(self) -> tuple[datetime, datetime]:
        """[first instant, first instant after) of the period in the business's time zone, to
        bound a timestamp column by an indexable range."""
        zone = ZoneInfo(settings.TIME_ZONE)
        return (datetime.combine(self.start, time.min, tzinfo=zone),
                datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=zone))

    def month_ends(self) -> list[date]:
        """The snapshots of the roll rates: every month's last day within the period, and the
        period's last day when it is not one (the month so far)."""
        ends = list(_month_last_days(self.start, self.end))
        if not ends or ends[-1] != self.end:
            ends.append(self.end)
        return ends


def is_month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


def month_end_before(day: date) -> date:
    """The last day of the month before ``day``'s month."""
    return day.replace(day=1) - timedelta(days=1)


def _month_last_days(start: date, end: date) -> Iterator[date]:
    year, month = start.year, start.month
    while True:
        last = date(year, month, calendar.monthrange(year, month)[1])
        if last > end:
            return
        if last >= start:
            yield last
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


class PeriodForm(forms.Form):
    """``from`` and ``to`` (YYYY-MM-DD); both default to the last ``DEFAULT_DAYS`` business
    days up to ``today``."""

    start = forms.DateField(label=_("From"), required=False, input_formats=["%Y-%m-%d"],
                            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                            error_messages={"invalid": _("Enter a date as YYYY-MM-DD.")})
    end = forms.DateField(label=_("To"), required=False, input_formats=["%Y-%m-%d"],
                          widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                          error_messages={"invalid": _("Enter a date as YYYY-MM-DD.")})

    def __init__(self, data, *, today: date) -> None:
        self.today = today
        initial = {"start": today - timedelta(days=DEFAULT_DAYS - 1), "end": today}
        bound = {key: data[key] for key in ("start", "end") if data.get(key)}
        super().__init__({**{k: v.isoformat() for k, v in initial.items()}, **bound}, initial=initial)

    def clean(self):
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is None or end is None:
            return cleaned
        if start < date(2000, 1, 1) or end > date(2999, 12, 31):
            raise forms.ValidationError(_("Choose dates between 2000-01-01 and 2999-12-31."), code="out_of_bounds")
        if end < start:
            raise forms.ValidationError(_("The range ends before it starts: the 'To' date must be on or after the "
                                          "'From' date."), code="reversed")
        if (end - start).days + 1 > MAX_DAYS:
            raise forms.ValidationError(_("Choose a range of at most %(max)s days (this one has %(days)s).")
                                        % {"max": MAX_DAYS, "days": (end - start).days + 1}, code="too_long")
        return cleaned

    @property
    def period(self) -> Period:
        """The chosen period (only after ``is_valid()``)."""
        return Period(self.cleaned_data["start"], self.cleaned_data["end"])
