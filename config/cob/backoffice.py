"""The close's part of the back office: the dashboard widget of the last nightly close and
its failures, and the alarm "the close is behind" when the business date lags the calendar
(beat stopped, or the close keeps failing)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from django.conf import settings
from django.db.models import Count, Min, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from accounts import clock
from accounts.backoffice import DashboardWidget, register_dashboard_widget
from accounts.business_day import business_date_get

from .models import CobFailure, CobRun

VIEW_RUNS = "cob.view_cobrun"


if TYPE_CHECKING:  # django-stubs' type of a run annotated with ``failure_count`` (dev-only package)
    from django_stubs_ext import WithAnnotations

    class _FailureCount(TypedDict):
        failure_count: int

    CobRunWithFailures = WithAnnotations[CobRun, _FailureCount]


def last_cob_run() -> CobRunWithFailures | None:
    """The latest close-of-business run with its failure count (``failure_count``)."""
    return (CobRun.objects.annotate(failure_count=Coalesce(Sum("steps__failures"), 0))
            .order_by("-business_date").first())


def close_lag(business_date: date) -> tuple[int, bool]:
    """(calendar days the business date is behind today's date, whether that is late): the
    close of yesterday must be done by ``TALLY_CLOSE_DUE_HOUR``, older days are always late."""
    now = timezone.localtime(clock.now())
    lag = (now.date() - business_date).days
    return lag, lag >= 2 or (lag == 1 and now.hour >= settings.TALLY_CLOSE_DUE_HOUR)


def last_close_widget(request: HttpRequest) -> dict[str, Any]:
    """The latest close-of-business run, its failures, the failures of any close not yet
    resolved by a retry, the days not yet closed before the business date, and whether the
    close is behind the calendar (three queries)."""
    run = last_cob_run()
    today = business_date_get()
    lag, behind = close_lag(today)
    runs_url = reverse("admin:cob_cobrun_changelist")
    open_failures = CobFailure.objects.filter(resolved_at__isnull=True).aggregate(
        count=Count("id"), oldest_run=Min("step_run__run_id"))
    calendar = {"calendar_lag": lag, "close_behind": behind, "open_failures": open_failures["count"],
                "open_failures_url": reverse("admin:cob_cobrun_change", args=[open_failures["oldest_run"]])
                if open_failures["oldest_run"] else ""}
    if run is None:
        return {"run": None, "business_date": today, "runs_url": runs_url, **calendar}
    closed_through = run.business_date if run.status == "completed" else run.business_date - timedelta(days=1)
    return {
        **calendar,
        "run": run,
        "business_date": today,
        "failures": run.failure_count,
        "days_behind": max(0, (today - closed_through).days - 1),
        "run_url": reverse("admin:cob_cobrun_change", args=[run.pk]),
        "runs_url": runs_url,
        "running_url": f"{runs_url}?{urlencode({'status__exact': 'running'})}",
    }


def register() -> None:
    register_dashboard_widget(DashboardWidget(
        key="last_close", template="admin/cob/dashboard_last_close.html", context=last_close_widget,
        permission=VIEW_RUNS, order=40))
