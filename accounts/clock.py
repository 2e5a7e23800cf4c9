"""The system's clock: every rule that reads the time of day (deadlines, hold release times,
claim expiry, the application velocity window) reads it here.

It is the wall clock, except while a simulated clock is set: ``manage.py simulate`` sets it
to fixed hours of each simulated business day (``simulated``), for every thread of the
process, so the simulation is deterministic without patching the time library."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

from django.utils import timezone

_simulated: datetime | None = None


def now() -> datetime:
    """The current instant (aware)."""
    return _simulated if _simulated is not None else timezone.now()


def localdate() -> date:
    """Today's calendar date in the business's time zone (Asia/Shanghai)."""
    return timezone.localtime(now()).date()


def set_simulated(instant: datetime) -> None:
    """Move the simulated clock (only inside ``simulated``)."""
    global _simulated  # noqa: PLW0603 - one clock per process, shared by its threads
    if _simulated is None:
        raise RuntimeError("the clock is not simulated: use accounts.clock.simulated()")
    if timezone.is_naive(instant):
        raise ValueError("the simulated clock needs an aware datetime")
    _simulated = instant


@contextmanager
def simulated(start: datetime) -> Iterator[None]:
    """Run the block on a simulated clock starting at ``start`` (moved by ``set_simulated``)."""
    global _simulated  # noqa: PLW0603 - one clock per process, shared by its threads
    if timezone.is_naive(start):
        raise ValueError("the simulated clock needs an aware datetime")
    previous, _simulated = _simulated, start
    try:
        yield
    finally:
        _simulated = previous
