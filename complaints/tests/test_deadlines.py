"""Deadline computation (pure functions, no database)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from complaints import deadlines

SH = ZoneInfo("Asia/Shanghai")
RECEIVED = datetime(2026, 11, 20, 10, 30, tzinfo=SH)


def test_a_new_complaint_is_acknowledged_within_a_day_and_answered_within_15_calendar_days():
    clock = deadlines.new_complaint_clock(RECEIVED)
    assert clock.acknowledge_by == datetime(2026, 11, 21, 10, 30, tzinfo=SH)
    assert clock.respond_by == datetime(2026, 12, 5, 10, 30, tzinfo=SH)  # weekends count
    assert clock.internal_target_at == datetime(2026, 11, 25, 10, 30, tzinfo=SH)


def test_the_extension_gives_30_days_from_the_start_of_the_round():
    assert deadlines.respond_by(RECEIVED, extended=True) == datetime(2026, 12, 20, 10, 30, tzinfo=SH)
    assert deadlines.respond_by(RECEIVED, extended=False) == datetime(2026, 12, 5, 10, 30, tzinfo=SH)


def test_one_extension_only_and_only_before_the_deadline():
    respond_by = deadlines.respond_by(RECEIVED, extended=False)
    assert deadlines.can_extend(already_extended=False, respond_by_at=respond_by, now=respond_by)
    assert not deadlines.can_extend(already_extended=True, respond_by_at=respond_by, now=RECEIVED)
    assert not deadlines.can_extend(already_extended=False, respond_by_at=respond_by,
                                    now=respond_by + timedelta(seconds=1))


def test_a_pause_moves_the_internal_target_but_never_the_regulatory_deadline():
    paused_since = RECEIVED + timedelta(days=2)
    now = paused_since + timedelta(days=3, hours=4)
    # while paused the target moves with the clock
    assert deadlines.internal_target(RECEIVED, paused=timedelta(0), paused_since=paused_since, now=now) == \
        datetime(2026, 11, 28, 14, 30, tzinfo=SH)
    total = deadlines.paused_total(timedelta(0), paused_since=paused_since, resumed_at=now)
    assert total == timedelta(days=3, hours=4)
    assert deadlines.internal_target(RECEIVED, paused=total) == datetime(2026, 11, 28, 14, 30, tzinfo=SH)
    # a second pause adds up
    total = deadlines.paused_total(total, paused_since=now + timedelta(days=1), resumed_at=now + timedelta(days=2))
    assert total == timedelta(days=4, hours=4)
    # the regulatory deadline does not take pauses at all
    assert deadlines.respond_by(RECEIVED, extended=False) == datetime(2026, 12, 5, 10, 30, tzinfo=SH)


def test_internal_target_while_paused_needs_now():
    with pytest.raises(ValueError):
        deadlines.internal_target(RECEIVED, paused=timedelta(0), paused_since=RECEIVED)


def test_next_due_is_the_acknowledgement_then_the_final_response_then_nothing():
    ack, respond = deadlines.acknowledge_by(RECEIVED), deadlines.respond_by(RECEIVED, extended=False)
    assert deadlines.next_due(acknowledged=False, acknowledge_by_at=ack, respond_by_at=respond, open_=True) == ack
    assert deadlines.next_due(acknowledged=True, acknowledge_by_at=ack, respond_by_at=respond, open_=True) == respond
    assert deadlines.next_due(acknowledged=True, acknowledge_by_at=ack, respond_by_at=respond, open_=False) is None


@pytest.mark.parametrize(("due_in", "acknowledging", "badge"), [
    (timedelta(hours=-1), True, "breached"),
    (timedelta(hours=5), True, "due_soon"),
    (timedelta(hours=7), True, None),
    (timedelta(days=1), False, "due_soon"),
    (timedelta(days=3), False, None),
    (timedelta(seconds=-1), False, "breached"),
])
def test_deadline_badges(due_in, acknowledging, badge):
    assert deadlines.deadline_badge(RECEIVED + due_in, now=RECEIVED, acknowledging=acknowledging) == badge
    assert deadlines.deadline_badge(None, now=RECEIVED, acknowledging=acknowledging) is None


def test_auto_close_and_closure_payoff_windows():
    assert deadlines.auto_close_at(RECEIVED) == datetime(2026, 11, 27, 10, 30, tzinfo=SH)
    assert deadlines.payoff_expires_at(RECEIVED) == datetime(2026, 12, 20, 10, 30, tzinfo=SH)
