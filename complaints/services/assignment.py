"""Reassigning many complaints at once (docs/rules.md §10 "Assignment"): a supervisor gives
the complaints of an agent who is away to another agent, or back to nobody.

Each complaint is its own step: a refused one (closed, already with that agent, …) changes
nothing and says why; the others are reassigned and audited one by one, exactly as
``complaint_assign`` does for one complaint; the new agent gets one staff notification
listing them. A target who is not an active complaints agent,
or a user who may not reassign, is refused before anything is read or written."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.audit_trail import Actor, StaffUser, require_staff
from accounts.errors import ApplicationError, ValidationFailed
from accounts.ids import parse_id

from .complaints import REASSIGN_COMPLAINT, assign_locked, assignment_notify, locked_complaint, require_agent

# One request reassigns at most this many complaints (each one is locked until the end).
BULK_ASSIGN_MAX = 500


@dataclass
class BulkAssignment:
    """What a bulk reassignment did: the complaints reassigned, and why each other one was
    refused (complaint id → message, in the requester's language)."""

    assigned: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def complaints_assign_many(*, complaint_ids: Iterable[int | str], assignee: StaffUser | None, acting_user: Actor,
                           note: str = "") -> BulkAssignment:
    """Assign every complaint of ``complaint_ids`` to ``assignee`` (``None``: to nobody).
    One transaction; each complaint in its own savepoint, so a refused one is rolled back alone
    and reported, and every other one is reassigned and audited (``complaint.reassigned`` /
    ``assigned`` / ``unassigned``, ``bulk: true``)."""
    acting_user = require_staff(acting_user, REASSIGN_COMPLAINT,
                                _("Only a supervisor may assign or reassign complaints."))
    if assignee is not None:
        assignee = require_agent(assignee)
    ids: list[int] = []
    for raw in complaint_ids:
        value = parse_id(str(raw))
        if value is None:
            raise ValidationFailed(_("Choose complaints by their numbers."), details={"complaints": [str(raw)[:20]]})
        if value not in ids:
            ids.append(value)
    if not ids:
        raise ValidationFailed(_("Choose at least one complaint."), details={"complaints": [_("none chosen")]})
    if len(ids) > BULK_ASSIGN_MAX:
        raise ValidationFailed(_("Reassign at most %(max)d complaints at a time.") % {"max": BULK_ASSIGN_MAX},
                               details={"complaints": [str(len(ids))]})
    outcome = BulkAssignment()
    with transaction.atomic(durable=True):
        for complaint_id in sorted(ids):  # one locking order for every request
            try:
                with transaction.atomic():
                    complaint = locked_complaint(complaint_id)
                    assign_locked(complaint, assignee=assignee, acting_user=acting_user, note=note, bulk=True)
            except ApplicationError as exc:
                outcome.refused[complaint_id] = str(exc.message)
            else:
                outcome.assigned.append(complaint_id)
        if assignee is not None and assignee.pk != acting_user.pk:
            assignment_notify(assignee, outcome.assigned, acting_user=acting_user)
    return outcome
