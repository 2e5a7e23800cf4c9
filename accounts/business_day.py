"""The business date (docs/rules.md §2): every booking carries it; the nightly close
advances it by one day."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.db.models import QuerySet

from . import clock
from .audit_trail import Actor, audit_record
from .models import BusinessCalendar


def business_date_get() -> date:
    """The current business date; a fresh database starts at today's date (Asia/Shanghai)."""
    return business_date_from(list(business_date_query()[:1]))


def business_date_query() -> QuerySet[BusinessCalendar]:
    """What ``business_date_get`` reads, for a booking reading it with others in one round trip
    (``accounts.round_trips.read_together``); ``business_date_from`` gives the date of its rows."""
    return BusinessCalendar.objects.filter(pk=1).only("current_date")


def business_date_from(rows: list[BusinessCalendar]) -> date:
    if rows:
        return rows[0].current_date
    calendar, _ = BusinessCalendar.objects.get_or_create(pk=1, defaults={"current_date": clock.localdate()})
    return calendar.current_date


# The business date this process last saw. A booking written in one statement (the purchase
# path) builds its rows for this date and checks it in that statement: when the date has moved,
# the statement writes nothing and answers the date it found, which is noted here and the
# booking is built again. So the note never needs invalidating across processes.
_last_seen: dict[str, date] = {}


def business_date_last_seen() -> date:
    """The business date this process last saw (read once if it has seen none)."""
    if "date" not in _last_seen:
        _last_seen["date"] = business_date_get()
    return _last_seen["date"]


def business_date_seen(day: date) -> None:
    """Note the business date a statement found."""
    _last_seen["date"] = day


def business_date_set(*, new_date: date, acting_user: Actor, reason: str) -> date:
    """Set the business date (the close advances it; the simulation starts it)."""
    with transaction.atomic(durable=True):
        return _set(new_date=new_date, acting_user=acting_user, reason=reason)


def business_date_advance(*, from_date: date, reason: str) -> bool:
    """Advance the business date from ``from_date`` to the next day, unless another close
    already did (the last step of a close). True when it moved."""
    with transaction.atomic(durable=True):
        business_date_get()
        if BusinessCalendar.objects.select_for_update().get(pk=1).current_date != from_date:
            return False
        _set(new_date=date.fromordinal(from_date.toordinal() + 1), acting_user=None, reason=reason)
        return True


def _set(*, new_date: date, acting_user: Actor, reason: str) -> date:
    business_date_get()
    calendar = BusinessCalendar.objects.select_for_update().get(pk=1)
    before = calendar.current_date
    calendar.current_date = new_date
    calendar.save(update_fields=["current_date", "updated_at"])
    audit_record(acting_user=acting_user, action="business_date.set", obj=calendar,
                 before={"date": str(before)}, after={"date": str(new_date)}, reason=reason)
    return new_date
