"""Bulk reassignment of complaints (docs/rules.md §10 "Assignment"): a supervisor gives the
complaints of an agent who is away to another agent or to nobody, each audited; a refused one
changes nothing and says why; the admin action and its page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from accounts.errors import PermissionRefused, ValidationFailed
from accounts.models import AuditEvent
from complaints.models import Complaint
from complaints.services.assignment import complaints_assign_many
from complaints.services.complaints import complaint_assign, complaint_resolve, complaints_close_resolved

from .helpers import client_for, file, open_account, working, world

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:complaints_complaint_changelist")


def five_of(agent) -> list[Complaint]:
    """Five complaints of ``agent``: two assigned (not started), three in work."""
    complaints = []
    for n in range(5):
        complaint = file(open_account(n + 1))
        if n < 2:
            complaint_assign(complaint_id=complaint.pk, assignee=agent, acting_user=agent)
        else:
            working(complaint, agent)
        complaints.append(Complaint.objects.get(pk=complaint.pk))
    return complaints


def test_a_supervisor_gives_an_agents_complaints_to_another_each_audited(agent, agent2, supervisor):
    complaints = five_of(agent)
    ids = [c.pk for c in complaints]

    outcome = complaints_assign_many(complaint_ids=ids, assignee=agent2, acting_user=supervisor, note="Anna is away")

    assert outcome.assigned == ids and outcome.refused == {}
    rows = Complaint.objects.filter(pk__in=ids).order_by("id")
    assert [(c.assigned_to_id, c.status) for c in rows] == [(agent2.pk, "assigned")] * 2 + [
        (agent2.pk, "in_progress")] * 3
    events = AuditEvent.objects.filter(action="complaint.reassigned", object_id__in=[str(i) for i in ids])
    assert events.count() == 5
    assert {(e.actor_id, e.reason, e.before["assigned_to"], e.after["assigned_to"], e.after["bulk"])
            for e in events} == {(supervisor.pk, "Anna is away", agent.pk, agent2.pk, True)}


def test_to_nobody_new_again_if_not_started_unassigned_in_work_otherwise(agent, supervisor):
    complaints = five_of(agent)

    outcome = complaints_assign_many(complaint_ids=[c.pk for c in complaints], assignee=None,
                                     acting_user=supervisor)

    assert len(outcome.assigned) == 5
    rows = Complaint.objects.filter(pk__in=outcome.assigned).order_by("id")
    assert [(c.assigned_to_id, c.assigned_at, c.status) for c in rows] == [(None, None, "new")] * 2 + [
        (None, None, "in_progress")] * 3
    assert AuditEvent.objects.filter(action="complaint.unassigned").count() == 5
    # a new complaint again: any agent may take it
    complaint_assign(complaint_id=complaints[0].pk, assignee=agent, acting_user=agent)
    assert Complaint.objects.get(pk=complaints[0].pk).status == "assigned"


def test_a_refused_complaint_changes_nothing_and_says_why_the_others_go_on(agent, agent2, supervisor, clock):
    first, second, *_rest = five_of(agent)
    complaint_resolve(complaint_id=_rest[0].pk, resolution="Done.", acting_user=agent)
    clock.shift(timedelta(days=7))
    assert complaints_close_resolved() == 1
    already = _rest[1]
    complaint_assign(complaint_id=already.pk, assignee=agent2, acting_user=supervisor)
    closed = Complaint.objects.get(pk=_rest[0].pk)
    untouched = {pk: Complaint.objects.filter(pk=pk).values().get() for pk in (closed.pk, already.pk)}
    audit_before = AuditEvent.objects.filter(object_id__in=[str(closed.pk), str(already.pk)]).count()

    outcome = complaints_assign_many(complaint_ids=[first.pk, second.pk, closed.pk, already.pk], assignee=agent2,
                                     acting_user=supervisor)

    assert outcome.assigned == [first.pk, second.pk]
    assert set(outcome.refused) == {closed.pk, already.pk}
    assert "closed cannot be reassigned" in outcome.refused[closed.pk]
    assert "already assigned to this agent" in outcome.refused[already.pk]
    assert {pk: Complaint.objects.filter(pk=pk).values().get() for pk in (closed.pk, already.pk)} == untouched
    assert AuditEvent.objects.filter(object_id__in=[str(closed.pk), str(already.pk)]).count() == audit_before


@pytest.mark.parametrize("case", ["agent acting", "target not an agent", "no complaints", "bad id"])
def test_refusals_before_anything_changes(agent, agent2, supervisor, manager, case):
    complaints = five_of(agent)
    ids: list = [c.pk for c in complaints]
    acting, target, error = supervisor, agent2, ValidationFailed
    if case == "agent acting":
        acting, error = agent2, PermissionRefused
    elif case == "target not an agent":
        target = manager
    elif case == "no complaints":
        ids = []
    else:
        ids = [*ids, "12x"]
    before = world()

    with pytest.raises(error):
        complaints_assign_many(complaint_ids=ids, assignee=target, acting_user=acting)

    assert world() == before


def test_the_admin_action_asks_for_the_agent_then_reassigns(agent, agent2, supervisor):
    complaints = five_of(agent)
    ids = [str(c.pk) for c in complaints]
    client = client_for(supervisor)

    page = client.post(CHANGELIST, {"action": "reassign_selected", "_selected_action": ids, "index": "0"})

    assert page.status_code == 200
    assert page.templates[0].name == "admin/complaints/complaint/reassign.html"
    html = page.content.decode()
    assert all(f"#{pk}" in html for pk in ids) and "agent2" in html

    done = client.post(CHANGELIST, {"action": "reassign_selected", "_selected_action": ids, "index": "0",
                                    "apply": "1", "assignee": str(agent2.pk), "note": "away"}, follow=True)

    assert done.status_code == 200
    assert "5 complaint(s) assigned to agent2" in done.content.decode()
    assert set(Complaint.objects.values_list("assigned_to_id", flat=True)) == {agent2.pk}


def test_the_action_without_a_choice_or_with_a_forged_agent_changes_nothing(agent, supervisor, manager):
    ids = [str(c.pk) for c in five_of(agent)]
    client = client_for(supervisor)
    before = world()

    for assignee in ("", str(manager.pk), "nobodyx", "999999"):
        response = client.post(CHANGELIST, {"action": "reassign_selected", "_selected_action": ids, "index": "0",
                                            "apply": "1", "assignee": assignee})
        assert response.status_code == 200  # the page again, with the error

    assert world() == before


def test_agents_are_not_offered_the_action_and_cannot_forge_it(agent, agent2):
    ids = [str(c.pk) for c in five_of(agent)]
    client = client_for(agent)
    assert "reassign_selected" not in client.get(CHANGELIST).content.decode()
    before = world()

    response = client.post(CHANGELIST, {"action": "reassign_selected", "_selected_action": ids, "index": "0",
                                        "apply": "1", "assignee": str(agent2.pk)})

    assert response.status_code in (200, 302)
    assert world() == before


def test_a_deactivated_agent_is_not_a_target(agent, agent2, supervisor):
    ids = [c.pk for c in five_of(agent)]
    agent2.is_active = False
    agent2.save(update_fields=["is_active"])
    before = world()

    with pytest.raises(ValidationFailed):
        complaints_assign_many(complaint_ids=ids, assignee=agent2, acting_user=supervisor)

    assert world() == before
