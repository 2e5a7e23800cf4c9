"""The deadline clock: "2 h 14 min left" / "overdue by 35 min", rendered on the server and
kept current in the browser every 30 s by ``accounts/deadline_clock.js`` (no page load).

``{% deadline_clock_assets %}`` once in the page's head, then
``{% deadline_clock due_at started_at %}`` where a deadline is shown. The colour follows the
time left of the window from ``started_at`` to the deadline: more than a quarter left
``deadline-normal``, a quarter or less ``deadline-amber``, past the deadline
``deadline-overdue`` (red). The words come from the catalogue: the server renders them into
data attributes, so the script speaks the reader's language."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.translation import gettext

from accounts import clock

register = template.Library()

AMBER_SHARE = 0.25  # a quarter of the window or less left: amber


def clock_words() -> dict[str, str]:
    """The clock's words in the active language, ``%(…)s`` placeholders kept for the script."""
    return {
        "left": gettext("%(time)s left"),
        "overdue": gettext("overdue by %(time)s"),
        "days": gettext("%(days)s d %(hours)s h"),
        "hours": gettext("%(hours)s h %(minutes)s min"),
        "minutes": gettext("%(minutes)s min"),
    }


def duration_text(seconds: float, words: dict[str, str]) -> str:
    """Whole minutes, as days and hours, hours and minutes, or minutes."""
    minutes_total = int(abs(seconds) // 60)
    days, rest = divmod(minutes_total, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return words["days"] % {"days": days, "hours": hours}
    if hours:
        return words["hours"] % {"hours": hours, "minutes": minutes}
    return words["minutes"] % {"minutes": minutes}


def clock_state(deadline: datetime, started: datetime | None, now: datetime) -> tuple[str, str]:
    """(CSS class, text) of a deadline clock at ``now``."""
    words = clock_words()
    remaining = (deadline - now).total_seconds()
    if remaining <= 0:
        return "deadline-overdue", words["overdue"] % {"time": duration_text(remaining, words)}
    window = (deadline - started).total_seconds() if started is not None else 0
    css = "deadline-amber" if window > 0 and remaining <= AMBER_SHARE * window else "deadline-normal"
    return css, words["left"] % {"time": duration_text(remaining, words)}


@register.simple_tag
def deadline_clock(deadline: datetime | None, started: datetime | None = None) -> str:
    """A live clock counting down to ``deadline`` (nothing without one)."""
    if deadline is None:
        return ""
    now = clock.now()
    css, text = clock_state(deadline, started, now)
    words = clock_words()
    return format_html(
        '<span class="deadline-clock {}" data-deadline="{}" data-started="{}" data-now="{}" '
        'data-word-left="{}" data-word-overdue="{}" data-word-days="{}" data-word-hours="{}" '
        'data-word-minutes="{}">{}</span>',
        css, deadline.isoformat(), started.isoformat() if started is not None else "", now.isoformat(),
        words["left"], words["overdue"], words["days"], words["hours"], words["minutes"], text)


@register.simple_tag
def deadline_clock_assets() -> str:
    """The clock's style sheet and script (served by the app, no CDN)."""
    return format_html('<link rel="stylesheet" href="{}"><script src="{}" defer></script>',
                       static("accounts/deadline_clock.css"), static("accounts/deadline_clock.js"))
