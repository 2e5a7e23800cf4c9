"""Reads of complaints and closure requests: the queues of the back office."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, DecimalField, F, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from accounts import clock
from accounts.audit_trail import StaffUser, staff_user

from . import deadlines
from .models import (
    OPEN_COMPLAINT_STATUSES,
    ClosureRequest,
    Complaint,
    ComplaintStatus,
    Waiver,
    WaiverStatus,
)

QUEUE_VIEWS = ("mine", "unassigned", "escalated", "breached", "due_soon")


def complaint_get(complaint_id: int) -> Complaint | None:
    return Complaint.objects.select_related("customer", "account", "assigned_to").filter(pk=complaint_id).first()


def closure_request_get(request_id: int) -> ClosureRequest | None:
    return ClosureRequest.objects.select_related("account", "account__customer").filter(pk=request_id).first()


def _due_soon_q(now: datetime) -> Q:
    return (Q(acknowledged_at__isnull=True, next_due_at__gte=now,
              next_due_at__lt=now + deadlines.ACKNOWLEDGE_DUE_SOON)
            | Q(acknowledged_at__isnull=False, next_due_at__gte=now,
                next_due_at__lt=now + deadlines.RESPONSE_DUE_SOON))


def complaint_queue(*, user: StaffUser | AnonymousUser | None = None, view: str | None = None,
                    now: datetime | None = None) -> QuerySet[Complaint]:
    """Complaints not closed, by their next regulatory deadline (answered ones last), with
    the queue views: mine, unassigned, escalated, breached, due soon."""
    now = now or clock.now()
    qs = (Complaint.objects.exclude(status=ComplaintStatus.CLOSED)
          .select_related("customer", "account", "assigned_to")
          .order_by(F("next_due_at").asc(nulls_last=True), "id"))
    if view == "mine":
        qs = qs.filter(assigned_to=staff_user(user))
    elif view == "unassigned":
        qs = qs.filter(assigned_to__isnull=True)
    elif view == "escalated":
        qs = qs.filter(escalated=True)
    elif view == "breached":
        qs = qs.filter(next_due_at__lt=now)
    elif view == "due_soon":
        qs = qs.filter(_due_soon_q(now))
    return qs


def complaint_badge(complaint: Complaint, *, now: datetime | None = None) -> str | None:
    """``breached`` / ``due_soon`` for the next deadline still to meet."""
    return deadlines.deadline_badge(complaint.next_due_at, now=now or clock.now(),
                                    acknowledging=complaint.acknowledged_at is None)


@dataclass(frozen=True)
class AgentWorkload:
    agent_id: int | None
    username: str
    open: int
    awaiting_customer: int
    breached: int
    due_soon: int
    escalated: int


def breached_complaints(*, now: datetime | None = None) -> QuerySet[Complaint]:
    """What supervisors must look at: open complaints past a deadline or escalated, and
    resolved ones whose answer came late (until they close)."""
    now = now or clock.now()
    return (Complaint.objects.exclude(status=ComplaintStatus.CLOSED)
            .filter(Q(next_due_at__lt=now) | Q(acknowledge_breached=True) | Q(response_breached=True))
            .select_related("customer", "assigned_to").order_by(F("next_due_at").asc(nulls_last=True), "id"))


def workload_per_agent(*, now: datetime | None = None) -> list[AgentWorkload]:
    """Open complaints per assignee (unassigned as its own row), busiest first."""
    now = now or clock.now()
    rows = (Complaint.objects.filter(status__in=OPEN_COMPLAINT_STATUSES)
            .values("assigned_to", "assigned_to__username")
            .annotate(open=Count("id"),
                      awaiting=Count("id", filter=Q(status=ComplaintStatus.AWAITING_CUSTOMER)),
                      breached=Count("id", filter=Q(next_due_at__lt=now)),
                      due_soon=Count("id", filter=_due_soon_q(now)),
                      escalated=Count("id", filter=Q(escalated=True)))
            .order_by("-open", "assigned_to__username"))
    return [AgentWorkload(agent_id=r["assigned_to"], username=r["assigned_to__username"] or "",
                          open=r["open"], awaiting_customer=r["awaiting"], breached=r["breached"],
                          due_soon=r["due_soon"], escalated=r["escalated"]) for r in rows]


def closure_requests_of(account_id: int) -> QuerySet[ClosureRequest]:
    return ClosureRequest.objects.filter(account_id=account_id).order_by("-created_at", "-id")


# --- waivers awaiting a supervisor ------------------------------------------------------------

COUNTED_WAIVER_STATUSES = (WaiverStatus.APPLIED, WaiverStatus.PENDING)


def _waived_on_same_item(item: str) -> Subquery:
    """Applied and pending waivers on the waiver's own fee or penalty (what the 100.00 cap counts)."""
    return Subquery(Waiver.objects.filter(status__in=COUNTED_WAIVER_STATUSES, **{item: OuterRef(item)})
                    .order_by().values(item).annotate(total=Sum("amount")).values("total"),
                    output_field=DecimalField(max_digits=14, decimal_places=2))


def waivers_awaiting_approval() -> QuerySet[Waiver]:
    """Waivers above the agent limit waiting for a supervisor, oldest first, each with the total
    waived on its item (applied and pending, this one included): one query whatever the rows."""
    return (Waiver.objects.filter(status=WaiverStatus.PENDING)
            .select_related("complaint", "complaint__customer", "complaint__assigned_to", "requested_by",
                            "installment", "penalty")
            .annotate(item_total=Coalesce(_waived_on_same_item("installment"), _waived_on_same_item("penalty")))
            .order_by("created_at", "id"))


def waiver_queue_figures() -> dict:
    """How many waivers wait, since when and for how much: one aggregate query."""
    return Waiver.objects.filter(status=WaiverStatus.PENDING).aggregate(
        waiting=Count("id"), oldest=Min("created_at"), amount=Sum("amount"))
