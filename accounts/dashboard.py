"""The dashboard on the admin index: the widgets registered in ``accounts.backoffice`` (the
review queue, complaint deadlines, accounts per delinquency bucket) and this app's own, the
last nightly close and its failures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode

from . import selectors, services
from .backoffice import DashboardWidget, register_dashboard_widget


def last_close_widget(request: HttpRequest) -> dict[str, Any]:
    """The latest close-of-business run, its failures, and the days not yet closed before
    the business date (two queries)."""
    run = selectors.last_cob_run()
    today = services.business_date_get()
    runs_url = reverse("admin:accounts_cobrun_changelist")
    if run is None:
        return {"run": None, "business_date": today, "runs_url": runs_url}
    closed_through = run.business_date if run.status == "completed" else run.business_date - timedelta(days=1)
    return {
        "run": run,
        "business_date": today,
        "failures": run.failure_count,
        "days_behind": max(0, (today - closed_through).days - 1),
        "run_url": reverse("admin:accounts_cobrun_change", args=[run.pk]),
        "runs_url": runs_url,
        "running_url": f"{runs_url}?{urlencode({'status__exact': 'running'})}",
    }


register_dashboard_widget(DashboardWidget(
    key="last_close", template="admin/accounts/dashboard_last_close.html", context=last_close_widget,
    permission="accounts.view_cobrun", order=40))
