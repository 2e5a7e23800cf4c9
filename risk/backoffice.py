"""This app's part of the back office pages served by ``accounts``: the applications and their
decisions on the customer 360° page, the review queue widget of the dashboard, and the
applications and review cases in a customer's audit trail."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Count, Min, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode

from accounts import clock
from accounts.backoffice import (
    CustomerSection,
    DashboardWidget,
    register_audit_scope,
    register_customer_section,
    register_dashboard_widget,
)
from accounts.models import CreditAccount, Customer

from .models import Application, ReviewCase, ReviewStatus
from .selectors import manager_inbox_figures

ROWS_SHOWN = 10


def applications_section(request: HttpRequest, customer: Customer, account: CreditAccount | None,
                         business_date: date) -> dict[str, Any]:
    """The customer's applications, newest first, with their decision and review case (one query)."""
    rows = list(Application.objects.filter(customer_id=customer.pk)
                .select_related("policy", "decided_by", "review_case", "review_case__decided_by")
                .order_by("-created_at", "-id")[:ROWS_SHOWN + 1])
    return {
        "applications": [{"application": a, "case": getattr(a, "review_case", None),
                          "reason_codes": [r.get("code", "") for r in (a.reasons or []) if isinstance(r, dict)]}
                         for a in rows[:ROWS_SHOWN]],
        "more": len(rows) > ROWS_SHOWN,
        "url": "{}?{}".format(reverse("admin:risk_application_changelist"),
                              urlencode({"customer__id__exact": customer.pk})),
    }


def review_queue_figures(*, now=None) -> dict[str, Any]:
    """Cases waiting for a decision, the oldest one's age and how many are past due (one query)."""
    now = now or clock.now()
    figures = ReviewCase.objects.exclude(status=ReviewStatus.DECIDED).aggregate(
        size=Count("id"), oldest=Min("created_at"), overdue=Count("id", filter=Q(due_at__lt=now)),
        escalated=Count("id", filter=Q(status=ReviewStatus.ESCALATED)))
    oldest = figures["oldest"]
    return {**figures, "oldest_age": (now - oldest) if oldest else None}


def _age_text(age) -> str:
    if age is None:
        return "-"
    minutes = int(age.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes:02d} min"


def review_queue_widget(request: HttpRequest) -> dict[str, Any]:
    figures = review_queue_figures()
    queue = reverse("admin:risk_reviewcase_changelist")
    return {
        **figures,
        "oldest_age_text": _age_text(figures["oldest_age"]),
        "queue_url": queue,
        "overdue_url": f"{queue}?{urlencode({'queue': 'overdue'})}",
        "escalated_url": f"{queue}?{urlencode({'status__exact': ReviewStatus.ESCALATED})}",
    }


def manager_inbox_widget(request: HttpRequest) -> dict[str, Any]:
    """A risk manager's inbox: escalations and proposals above the high-limit threshold waiting
    for them (their own proposals excluded), one query."""
    queue = reverse("admin:risk_reviewcase_changelist")
    return {**manager_inbox_figures(request.user),
            "inbox_url": f"{queue}?{urlencode({'queue': 'awaiting_manager'})}",
            "escalated_url": f"{queue}?{urlencode({'queue': 'awaiting_manager', 'status__exact': ReviewStatus.ESCALATED})}",
            "proposals_url": f"{queue}?{urlencode({'queue': 'awaiting_manager', 'status__exact': ReviewStatus.AWAITING_CONFIRMATION})}"}


def _applications_scope(customer_id: int):
    return Application.objects.filter(customer_id=customer_id)


def _review_cases_scope(customer_id: int):
    return ReviewCase.objects.filter(application__customer_id=customer_id)



def register() -> None:
    """This app's blocks, widgets and audit scopes (called from ``AppConfig.ready()``)."""
    register_customer_section(CustomerSection(
        key="applications", template="admin/risk/customer_applications.html", context=applications_section,
        permission="risk.view_application", order=40))
    register_dashboard_widget(DashboardWidget(
        key="review_queue", template="admin/risk/dashboard_review_queue.html", context=review_queue_widget,
        permission="risk.view_reviewcase", order=10))
    register_dashboard_widget(DashboardWidget(
        key="review_manager_inbox", template="admin/risk/dashboard_manager_inbox.html", context=manager_inbox_widget,
        permission="risk.confirm_high_limit", order=11))
    register_audit_scope("risk.application", _applications_scope)
    register_audit_scope("risk.reviewcase", _review_cases_scope)
