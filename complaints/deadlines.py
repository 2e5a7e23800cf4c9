"""Complaint and closure deadlines (docs/rules.md §9–10) as pure functions over datetimes.

The regulatory clock runs in calendar time and never pauses: acknowledge within 1 day of
receipt; final response within 15 calendar days of the start of the round (the receipt, or
the reopening), extendable once to 30 with a supervisor's recorded approval. The internal
target (5 days) pauses while the complaint awaits the customer. A resolved complaint closes
itself 7 days after resolution. A closure request awaiting payoff expires after 30 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

ACKNOWLEDGE_WITHIN = timedelta(days=1)
FINAL_RESPONSE_WITHIN = timedelta(days=15)
EXTENDED_FINAL_RESPONSE_WITHIN = timedelta(days=30)
INTERNAL_TARGET_WITHIN = timedelta(days=5)
AUTO_CLOSE_AFTER = timedelta(days=7)
CLOSURE_PAYOFF_WINDOW = timedelta(days=30)

# When the queue shows "due soon".
ACKNOWLEDGE_DUE_SOON = timedelta(hours=6)
RESPONSE_DUE_SOON = timedelta(days=2)

# Staff are told once per deadline this long before it passes (the assigned agent, or the
# supervisors when nobody is assigned); a breach is told to the agent and the supervisors.
ACKNOWLEDGE_WARN_BEFORE = timedelta(hours=2)
RESPONSE_WARN_BEFORE = timedelta(hours=24)

BREACHED = "breached"
DUE_SOON = "due_soon"


@dataclass(frozen=True)
class ComplaintClock:
    acknowledge_by: datetime
    respond_by: datetime
    internal_target_at: datetime


def acknowledge_by(received_at: datetime) -> datetime:
    return received_at + ACKNOWLEDGE_WITHIN


def respond_by(round_started_at: datetime, *, extended: bool) -> datetime:
    """The final-response deadline of a round; never moved by a pause."""
    return round_started_at + (EXTENDED_FINAL_RESPONSE_WITHIN if extended else FINAL_RESPONSE_WITHIN)


def internal_target(round_started_at: datetime, *, paused: timedelta, paused_since: datetime | None = None,
                    now: datetime | None = None) -> datetime:
    """The internal target: 5 days of work, not counting time spent awaiting the customer.

    ``paused`` is the time already spent paused; while paused (``paused_since``) the target
    keeps moving with ``now``."""
    target = round_started_at + INTERNAL_TARGET_WITHIN + paused
    if paused_since is not None:
        if now is None:
            raise ValueError("now is required while paused")
        target += max(now - paused_since, timedelta(0))
    return target


def paused_total(paused: timedelta, *, paused_since: datetime, resumed_at: datetime) -> timedelta:
    """Time paused after a pause that started at ``paused_since`` ends at ``resumed_at``."""
    return paused + max(resumed_at - paused_since, timedelta(0))


def new_complaint_clock(received_at: datetime) -> ComplaintClock:
    return ComplaintClock(acknowledge_by=acknowledge_by(received_at),
                          respond_by=respond_by(received_at, extended=False),
                          internal_target_at=internal_target(received_at, paused=timedelta(0)))


def can_extend(*, already_extended: bool, respond_by_at: datetime, now: datetime) -> bool:
    """One extension per round, and only before the 15-day deadline has passed."""
    return not already_extended and now <= respond_by_at


def next_due(*, acknowledged: bool, acknowledge_by_at: datetime, respond_by_at: datetime,
             open_: bool) -> datetime | None:
    """The next regulatory deadline still to meet (None once answered)."""
    if not open_:
        return None
    return acknowledge_by_at if not acknowledged else respond_by_at


def deadline_badge(due_at: datetime | None, *, now: datetime, acknowledging: bool) -> str | None:
    """``breached`` past the deadline, ``due_soon`` inside the warning window, else None."""
    if due_at is None:
        return None
    if due_at < now:
        return BREACHED
    window = ACKNOWLEDGE_DUE_SOON if acknowledging else RESPONSE_DUE_SOON
    if due_at < now + window:
        return DUE_SOON
    return None


def auto_close_at(resolved_at: datetime) -> datetime:
    return resolved_at + AUTO_CLOSE_AFTER


def payoff_expires_at(requested_at: datetime) -> datetime:
    return requested_at + CLOSURE_PAYOFF_WINDOW
