"""The frequent sweep of complaints and closure requests (beat, and the nightly close's last
step): escalate breached deadlines (staff told), warn staff of deadlines about to pass, close
complaints resolved 7 days ago, move closure requests forward. Safe to run any number of times."""

from __future__ import annotations

from datetime import datetime

from accounts import clock

from .closures import closure_requests_advance
from .complaints import complaints_close_resolved, complaints_escalate_breaches
from .deadline_alerts import complaints_warn_due_soon


def complaints_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The frequent sweep (beat): escalate breaches, auto-close resolved complaints, move
    closure requests forward. Safe to run any number of times."""
    now = now or clock.now()
    advanced = closure_requests_advance(now=now)
    return {"escalated": complaints_escalate_breaches(now=now), "warned": complaints_warn_due_soon(now=now),
            "closed": complaints_close_resolved(now=now), "closure_requests": advanced.changed}
