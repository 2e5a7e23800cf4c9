"""Telling staff about complaint deadlines (docs/rules.md §10 "Staff notifications"), through
the staff inbox (``accounts.staff_inbox``: in the back office and by e-mail after commit).

- **About to pass**: 2 hours before an acknowledgement deadline, 24 hours before a
  final-response deadline, the assigned agent is told — or, when nobody is assigned, the
  supervisors (``complaints.reassign_complaint``). Each deadline once: the complaint keeps the
  deadline it warned about (``due_warned_for``); a new deadline (an extension, a new round)
  is a new warning.
- **Breached**: when the sweep flags a missed deadline (``complaints_escalate_breaches``, once
  per breach flag), the assigned agent and the supervisors are told.

Both run in the sweep's transaction (every 5 minutes and the nightly close's last step)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import clock
from accounts.audit_trail import StaffUser
from accounts.staff_inbox import staff_holding, staff_notify
from complaints import deadlines
from complaints.models import OPEN_COMPLAINT_STATUSES, Complaint

SUPERVISORS = "complaints.reassign_complaint"

WARNINGS = {
    "acknowledge": _("Complaint #%(id)s must be acknowledged by %(due)s: less than %(hours)s hours left."),
    "response": _("Complaint #%(id)s needs its final response by %(due)s: less than %(hours)s hours left."),
}
BREACHES = {
    "acknowledge": _("Complaint #%(id)s missed its acknowledgement deadline (%(due)s) and is escalated to the "
                     "supervisors."),
    "response": _("Complaint #%(id)s missed its final-response deadline (%(due)s) and is escalated to the "
                  "supervisors."),
}


def _local(value: datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def _link(complaint: Complaint) -> str:
    return reverse("admin:complaints_complaint_change", args=[complaint.pk])


def _assignee(complaint: Complaint) -> StaffUser | None:
    agent = complaint.assigned_to
    return agent if agent is not None and agent.is_active else None


class Supervisors:
    """The supervisors, read once per sweep and only if needed."""

    def __init__(self) -> None:
        self._users: list[StaffUser] | None = None

    def __call__(self) -> list[StaffUser]:
        if self._users is None:
            self._users = list(staff_holding(SUPERVISORS))
        return self._users


def breach_notify(complaint: Complaint, *, breach: str, deadline: datetime, supervisors: Supervisors) -> None:
    """A deadline was missed: the assigned agent and the supervisors (each once)."""
    recipients = {user.pk: user for user in supervisors()}
    agent = _assignee(complaint)
    if agent is not None:
        recipients.setdefault(agent.pk, agent)
    if recipients:
        staff_notify(recipients=list(recipients.values()), kind="complaint_deadline_breached",
                     message=BREACHES[breach], params={"id": complaint.pk, "due": _local(deadline)},
                     link=_link(complaint))


def complaints_warn_due_soon(*, now: datetime | None = None) -> int:
    """Warn about every deadline of an open complaint that passes within its warning window
    (2 h before acknowledgement, 24 h before the final response) and was not warned about yet.
    Returns how many complaints were warned about."""
    now = now or clock.now()
    floor = max(now, clock.now())  # a catch-up close never warns about a deadline already past
    warned = 0
    supervisors = Supervisors()
    with transaction.atomic(durable=True):
        due = (Complaint.objects.select_for_update(skip_locked=True, of=("self",)).select_related("assigned_to")
               .filter(status__in=OPEN_COMPLAINT_STATUSES, next_due_at__gt=floor)
               .filter(Q(acknowledged_at__isnull=True, next_due_at__lte=now + deadlines.ACKNOWLEDGE_WARN_BEFORE)
                       | Q(acknowledged_at__isnull=False, next_due_at__lte=now + deadlines.RESPONSE_WARN_BEFORE))
               .filter(Q(due_warned_for__isnull=True) | ~Q(due_warned_for=F("next_due_at")))
               .order_by("next_due_at", "id"))
        for complaint in due:
            assert complaint.next_due_at is not None  # filtered above
            kind = "acknowledge" if complaint.acknowledged_at is None else "response"
            window = deadlines.ACKNOWLEDGE_WARN_BEFORE if kind == "acknowledge" else deadlines.RESPONSE_WARN_BEFORE
            complaint.due_warned_for = complaint.next_due_at
            complaint.save(update_fields=["due_warned_for"])
            agent = _assignee(complaint)
            recipients = [agent] if agent is not None else supervisors()
            if recipients:
                staff_notify(recipients=recipients, kind="complaint_deadline_soon", message=WARNINGS[kind],
                             params={"id": complaint.pk, "due": _local(complaint.next_due_at),
                                     "hours": int(window.total_seconds() // 3600)},
                             link=_link(complaint))
            warned += 1
    return warned
