"""The charts page on the dashboard: a widget linking to it, for staff who may open it (no
query)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from accounts.backoffice import DashboardWidget, register_dashboard_widget

VIEW_ANALYTICS = "tally.view_analytics"


def charts_widget(request: HttpRequest) -> dict[str, Any]:
    url = reverse("analytics")
    return {"url": url, "links": [(key, f"{url}#{key}") for key in
                                  ("applications", "restoration", "roll-rates", "complaints", "closures")]}


def register() -> None:
    register_dashboard_widget(DashboardWidget(
        key="analytics", template="admin/analytics/dashboard_charts.html", context=charts_widget,
        permission=VIEW_ANALYTICS, order=90))
