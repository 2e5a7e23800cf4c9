"""This app's part of the back office pages served by ``accounts``: complaints and closure
requests on the customer 360° page, the complaint deadlines and waiting waivers widgets of the dashboard, and
complaints, closure requests and waivers in a customer's audit trail."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Count, Q
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

from . import selectors
from .models import ClosureRequest, Complaint, ComplaintStatus, Waiver

ROWS_SHOWN = 10


def complaints_section(request: HttpRequest, customer: Customer, account: CreditAccount | None,
                       business_date: date) -> dict[str, Any]:
    now = clock.now()
    rows = list(Complaint.objects.filter(customer_id=customer.pk).select_related("assigned_to")
                .order_by("-received_at", "-id")[:ROWS_SHOWN + 1])
    query: dict[str, int | str] = {"customer__id__exact": customer.pk, "closed": "include"}
    return {
        "complaints": [{"complaint": c, "badge": selectors.complaint_badge(c, now=now) if c.is_open else None}
                       for c in rows[:ROWS_SHOWN]],
        "more": len(rows) > ROWS_SHOWN,
        "url": "{}?{}".format(reverse("admin:complaints_complaint_changelist"),
                              urlencode(query)),
    }


def closures_section(request: HttpRequest, customer: Customer, account: CreditAccount | None,
                     business_date: date) -> dict[str, Any] | None:
    if account is None:
        return None
    rows = list(ClosureRequest.objects.filter(account_id=account.pk).select_related("decided_by")
                .order_by("-created_at", "-id")[:ROWS_SHOWN + 1])
    return {"requests": rows[:ROWS_SHOWN], "more": len(rows) > ROWS_SHOWN,
            "url": "{}?{}".format(reverse("admin:complaints_closurerequest_changelist"),
                                  urlencode({"account__id__exact": account.pk}))}


def complaint_deadline_figures(*, now=None) -> dict[str, int]:
    """Complaints not closed, those due soon and those past a deadline (as the queue views count
    them), and the escalated ones: one query."""
    now = now or clock.now()
    return Complaint.objects.exclude(status=ComplaintStatus.CLOSED).aggregate(
        not_closed=Count("id"),
        due_soon=Count("id", filter=selectors._due_soon_q(now)),
        breached=Count("id", filter=Q(next_due_at__lt=now)),
        escalated=Count("id", filter=Q(escalated=True)))


def complaints_widget(request: HttpRequest) -> dict[str, Any]:
    queue = reverse("admin:complaints_complaint_changelist")
    return {**complaint_deadline_figures(), "queue_url": queue,
            **{f"{view}_url": f"{queue}?{urlencode({'queue': view})}" for view in ("due_soon", "breached",
                                                                                 "escalated")}}


def waivers_widget(request: HttpRequest) -> dict[str, Any]:
    """The supervisors' queue of waivers awaiting approval: how many, the oldest, the amount."""
    figures = selectors.waiver_queue_figures()
    return {**figures, "queue_url": reverse("admin:complaints_complaint_waiver_queue")}


def _complaints_scope(customer_id: int):
    return Complaint.objects.filter(customer_id=customer_id)


def _closures_scope(customer_id: int):
    return ClosureRequest.objects.filter(account__customer_id=customer_id)


def _waivers_scope(customer_id: int):
    return Waiver.objects.filter(complaint__customer_id=customer_id)



def register() -> None:
    """This app's blocks, widgets and audit scopes (called from ``AppConfig.ready()``)."""
    register_customer_section(CustomerSection(
        key="complaints", template="admin/complaints/customer_complaints.html", context=complaints_section,
        permission="complaints.view_complaint", order=50))
    register_customer_section(CustomerSection(
        key="closures", template="admin/complaints/customer_closures.html", context=closures_section,
        permission="complaints.view_closurerequest", order=60))
    register_dashboard_widget(DashboardWidget(
        key="complaints", template="admin/complaints/dashboard_complaints.html", context=complaints_widget,
        permission="complaints.view_complaint", order=20))
    register_dashboard_widget(DashboardWidget(
        key="waivers", template="admin/complaints/dashboard_waivers.html", context=waivers_widget,
        permission="complaints.approve_waiver", order=25))
    register_audit_scope("complaints.complaint", _complaints_scope)
    register_audit_scope("complaints.closurerequest", _closures_scope)
    register_audit_scope("complaints.waiver", _waivers_scope)
