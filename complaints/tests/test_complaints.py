"""Complaints on real PostgreSQL (docs/rules.md §10): every allowed and refused transition,
assignment and permissions, the regulatory clock with its extension and the internal
target's pause, escalation by the nightly close, automatic closing and reopening."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.db import transaction

from accounts.errors import ApplicationError, Conflict, PermissionRefused, ValidationFailed
from accounts.models import AuditEvent, Notification
from complaints import tasks
from complaints.models import Complaint, ComplaintMessage, ComplaintStatus
from complaints.services.complaints import (
    complaint_add_note,
    complaint_assign,
    complaint_extend_deadline,
    complaint_file,
    complaint_record_customer_message,
    complaint_reopen,
    complaint_reply,
    complaint_resolve,
    complaint_start,
    complaints_close_resolved,
    complaints_escalate_breaches,
)
from conftest import upsert_customer

from .helpers import START, at, close_until, file, open_account, render, working, world

pytestmark = pytest.mark.django_db

STATES = ("new", "assigned", "in_progress", "awaiting_customer", "resolved", "closed")


def complaint_in(state: str, agent: User, clock) -> Complaint:
    """A complaint of ``agent`` brought to ``state`` through the services (a new customer each)."""
    complaint = file(open_account(Complaint.objects.count() + 1))
    if state == "new":
        return complaint
    complaint_assign(complaint_id=complaint.pk, assignee=agent, acting_user=agent)
    if state == "assigned":
        return Complaint.objects.get(pk=complaint.pk)
    complaint_start(complaint_id=complaint.pk, acting_user=agent)
    if state == "awaiting_customer":
        complaint_reply(complaint_id=complaint.pk, body="Which repayment?", await_customer=True,
                                 acting_user=agent)
    if state in ("resolved", "closed"):
        complaint_resolve(complaint_id=complaint.pk, resolution="Your limit is back.", acting_user=agent)
    if state == "closed":
        clock.shift(timedelta(days=7))
        assert complaints_close_resolved() == 1
    complaint = Complaint.objects.get(pk=complaint.pk)
    assert complaint.status == state
    return complaint


Action = Callable[[Complaint, User, User, User], object]

ACTIONS: dict[str, tuple[Action, dict[str, str]]] = {
    "assign": (lambda c, agent, agent2, sup: complaint_assign(complaint_id=c.pk, assignee=agent2,
                                                                       acting_user=sup),
               {"new": "assigned", "assigned": "assigned", "in_progress": "in_progress",
                "awaiting_customer": "awaiting_customer"}),
    "start": (lambda c, agent, agent2, sup: complaint_start(complaint_id=c.pk, acting_user=agent),
              {"assigned": "in_progress"}),
    "reply_and_wait": (lambda c, agent, agent2, sup: complaint_reply(
        complaint_id=c.pk, body="Please send the bank reference.", await_customer=True, acting_user=agent),
        {"in_progress": "awaiting_customer", "awaiting_customer": "awaiting_customer"}),
    "customer_message": (lambda c, agent, agent2, sup: complaint_record_customer_message(
        complaint_id=c.pk, body="The reference is bank-1.", acting_user=agent),
        {"new": "new", "assigned": "assigned", "in_progress": "in_progress", "awaiting_customer": "in_progress"}),
    "resolve": (lambda c, agent, agent2, sup: complaint_resolve(
        complaint_id=c.pk, resolution="Done.", acting_user=agent),
        {"in_progress": "resolved", "awaiting_customer": "resolved"}),
    "reopen": (lambda c, agent, agent2, sup: complaint_reopen(
        complaint_id=c.pk, note="The customer disagrees.", acting_user=agent), {"resolved": "in_progress"}),
    "extend": (lambda c, agent, agent2, sup: complaint_extend_deadline(
        complaint_id=c.pk, reason_text="Waiting for the bank's records.", acting_user=sup),
        {"new": "new", "assigned": "assigned", "in_progress": "in_progress",
         "awaiting_customer": "awaiting_customer"}),
}

CASES = [(action, state, allowed.get(state)) for action, (_call, allowed) in ACTIONS.items() for state in STATES]


@pytest.mark.parametrize(("action", "state", "expected"), CASES, ids=[f"{a}-from-{s}" for a, s, _e in CASES])
def test_every_transition_allowed_or_refused(action, state, expected, agent, agent2, supervisor, clock):
    complaint = complaint_in(state, agent, clock)
    call, _allowed = ACTIONS[action]
    if expected is None:
        before = world()
        with pytest.raises(Conflict) as refused:
            call(complaint, agent, agent2, supervisor)
        assert refused.value.code == "invalid_transition"
        assert world() == before
        return
    audit_before = AuditEvent.objects.filter(object_type="complaints.complaint").count()
    call(complaint, agent, agent2, supervisor)
    complaint.refresh_from_db()
    assert complaint.status == expected
    assert AuditEvent.objects.filter(object_type="complaints.complaint").count() == audit_before + 1


def test_automatic_close_only_closes_resolved_complaints_after_7_days(agent, clock):
    states = {state: complaint_in(state, agent, clock).pk for state in ("new", "in_progress", "awaiting_customer")}
    resolved = complaint_in("resolved", agent, clock)
    clock.shift(timedelta(days=7) - timedelta(seconds=1))
    assert tasks.sweep_complaints_and_closures() == {"escalated": 1, "warned": 0, "closed": 0, "closure_requests": 0}
    resolved.refresh_from_db()
    assert resolved.status == ComplaintStatus.RESOLVED
    clock.shift(timedelta(seconds=1))
    assert tasks.sweep_complaints_and_closures() == {"escalated": 0, "warned": 0, "closed": 1, "closure_requests": 0}
    resolved.refresh_from_db()
    assert resolved.status == ComplaintStatus.CLOSED
    assert resolved.closed_at == at(START) + timedelta(days=7)
    assert AuditEvent.objects.filter(action="complaint.closed", object_id=str(resolved.pk), actor=None).count() == 1
    for state, pk in states.items():
        assert Complaint.objects.get(pk=pk).status == state
    # the sweep again changes nothing
    before = world()
    assert tasks.sweep_complaints_and_closures() == {"escalated": 0, "warned": 0, "closed": 0, "closure_requests": 0}
    assert world() == before


# --- a complete complaint ------------------------------------------------------------------------


def test_lifecycle_acknowledged_answered_resolved_with_notifications_and_audit(agent, clock):
    account = open_account()
    complaint = file(account)
    assert (complaint.status, complaint.received_at) == ("new", at(START))
    assert complaint.acknowledge_by == at(date(2026, 11, 21))
    assert complaint.respond_by == at(date(2026, 12, 5))
    assert complaint.next_due_at == complaint.acknowledge_by
    assert complaint.account == account

    complaint_assign(complaint_id=complaint.pk, assignee=agent, acting_user=agent)
    clock.shift(timedelta(hours=2))
    complaint_start(complaint_id=complaint.pk, acting_user=agent)
    complaint.refresh_from_db()
    assert complaint.acknowledged_at == at(START, 12)
    assert complaint.next_due_at == complaint.respond_by
    ack = Notification.objects.get(kind="complaint_acknowledged")
    assert ack.customer == account.customer and ack.account == account
    assert render(ack) == (f"We received your complaint #{complaint.pk} and are looking into it. "
                           "You will have our answer by 2026-12-05 10:00.")

    complaint_add_note(complaint_id=complaint.pk, body="Checked the repayment.", acting_user=agent)
    complaint_reply(complaint_id=complaint.pk, body="We are checking your repayment.", acting_user=agent)
    answered = Notification.objects.get(kind="complaint_answered")
    assert render(answered) == f"About your complaint #{complaint.pk}: We are checking your repayment."
    complaint_resolve(complaint_id=complaint.pk, resolution="Your limit of 100.00 is back.",
                               acting_user=agent)
    complaint.refresh_from_db()
    assert (complaint.status, complaint.resolved_by, complaint.next_due_at) == ("resolved", agent, None)
    resolved = Notification.objects.get(kind="complaint_resolved")
    assert render(resolved) == f"Our answer to your complaint #{complaint.pk}: Your limit of 100.00 is back."
    kinds = list(ComplaintMessage.objects.filter(complaint=complaint).values_list("kind", flat=True))
    assert kinds == ["note", "reply", "reply"]
    assert list(AuditEvent.objects.filter(object_type="complaints.complaint", object_id=str(complaint.pk))
                .order_by("id").values_list("action", flat=True)) == [
        "complaint.filed", "complaint.assigned", "complaint.acknowledged", "complaint.note_added",
        "complaint.answered", "complaint.resolved"]
    # the internal note never reaches the customer
    assert Notification.objects.filter(customer=account.customer).count() == 3


def test_messages_are_append_only(agent):
    complaint = working(file(open_account()), agent)
    message = complaint_add_note(complaint_id=complaint.pk, body="x", acting_user=agent)
    with pytest.raises(Exception, match=r"complaint_message_append_only|Cannot"), transaction.atomic():
        ComplaintMessage.objects.filter(pk=message.pk).update(body="changed")
    with pytest.raises(Exception, match=r"complaint_message_append_only|Cannot"), transaction.atomic():
        ComplaintMessage.objects.filter(pk=message.pk).delete()


def test_a_complaint_without_an_account_uses_the_customers_account_or_none(agent):
    account = open_account()
    complaint = complaint_file(customer_external_id="cx-1", category="other", channel="phone",
                                        description="Rude agent.")
    assert complaint.account == account

    upsert_customer(external_id="no-account", name="Zhou", id_number="11010519491231002X", phone="13711111111",
                    store_status="normal", store_since=date(2020, 1, 1), orders_12m=1,
                    spend_12m=account.customer.spend_12m, return_rate=account.customer.return_rate)
    assert complaint_file(customer_external_id="no-account", category="activation_failed",
                                   channel="web", description="Why?").account is None


def test_filing_refuses_bad_input_and_unknown_customers(agent, reviewer):
    open_account()
    before = world()
    with pytest.raises(ValidationFailed) as bad:
        complaint_file(customer_external_id="cx-1", category="nope", channel="fax", description=" ")
    assert set(bad.value.details) == {"category", "channel", "description"}
    with pytest.raises(ValidationFailed) as unknown:
        complaint_file(customer_external_id="ghost", category="other", channel="app", description="x")
    assert unknown.value.details == {"customer_external_id": ["no such customer"]}
    with pytest.raises(ValidationFailed) as foreign:
        complaint_file(customer_external_id="cx-1", category="other", channel="app", description="x",
                                account_id=999999)
    assert "account_id" in foreign.value.details
    with pytest.raises(PermissionRefused):
        complaint_file(customer_external_id="cx-1", category="other", channel="app", description="x",
                                acting_user=reviewer)
    assert world() == before


# --- assignment and who may act ------------------------------------------------------------------


def test_an_agent_takes_new_complaints_only_a_supervisor_assigns_and_reassigns(agent, agent2, supervisor,
                                                                                reviewer):
    complaint = file(open_account())
    before = world()
    with pytest.raises(PermissionRefused):  # an agent may not hand work to a colleague
        complaint_assign(complaint_id=complaint.pk, assignee=agent2, acting_user=agent)
    with pytest.raises(ValidationFailed):  # only complaints staff can be assignees
        complaint_assign(complaint_id=complaint.pk, assignee=reviewer, acting_user=supervisor)
    with pytest.raises(PermissionRefused):
        complaint_assign(complaint_id=complaint.pk, assignee=reviewer, acting_user=reviewer)
    assert world() == before

    complaint_assign(complaint_id=complaint.pk, assignee=agent, acting_user=agent)
    before = world()
    with pytest.raises(PermissionRefused):  # taking over a colleague's complaint needs a supervisor
        complaint_assign(complaint_id=complaint.pk, assignee=agent2, acting_user=agent2)
    with pytest.raises(PermissionRefused):  # the other agent cannot work it
        complaint_start(complaint_id=complaint.pk, acting_user=agent2)
    with pytest.raises(Conflict):
        complaint_assign(complaint_id=complaint.pk, assignee=agent, acting_user=supervisor)
    assert world() == before

    complaint_assign(complaint_id=complaint.pk, assignee=agent2, acting_user=supervisor, note="holiday")
    complaint.refresh_from_db()
    assert (complaint.assigned_to, complaint.status) == (agent2, "assigned")
    event = AuditEvent.objects.get(action="complaint.reassigned")
    assert (event.actor, event.before["assigned_to"], event.after["assigned_to"], event.reason) == (
        supervisor, agent.pk, agent2.pk, "holiday")
    # now the first agent may no longer act; a supervisor may step in
    before = world()
    with pytest.raises(PermissionRefused):
        complaint_start(complaint_id=complaint.pk, acting_user=agent)
    assert world() == before
    complaint_start(complaint_id=complaint.pk, acting_user=supervisor)


def test_staff_without_complaint_permissions_change_nothing(agent, reviewer, manager):
    complaint = working(file(open_account()), agent)
    before = world()
    for user in (reviewer, manager):
        for call in (
            lambda u: complaint_reply(complaint_id=complaint.pk, body="x", acting_user=u),
            lambda u: complaint_add_note(complaint_id=complaint.pk, body="x", acting_user=u),
            lambda u: complaint_resolve(complaint_id=complaint.pk, resolution="x", acting_user=u),
            lambda u: complaint_extend_deadline(complaint_id=complaint.pk, reason_text="x", acting_user=u),
        ):
            with pytest.raises(PermissionRefused):
                call(user)
    with pytest.raises(PermissionRefused):  # agents do not extend deadlines
        complaint_extend_deadline(complaint_id=complaint.pk, reason_text="x", acting_user=agent)
    with pytest.raises(ValidationFailed):
        complaint_resolve(complaint_id=complaint.pk, resolution="  ", acting_user=agent)
    assert world() == before


# --- the regulatory clock and the internal target ------------------------------------------------


def test_a_pause_moves_the_internal_target_not_the_regulatory_deadline(agent, clock):
    complaint = working(file(open_account()), agent)
    respond_by = complaint.respond_by
    assert complaint.internal_target_at == at(date(2026, 11, 25))
    clock.shift(timedelta(days=1))
    complaint_reply(complaint_id=complaint.pk, body="Send the receipt please.", await_customer=True,
                             acting_user=agent)
    complaint.refresh_from_db()
    assert (complaint.status, complaint.paused_since) == ("awaiting_customer", at(date(2026, 11, 21)))
    clock.shift(timedelta(days=3, hours=6))
    complaint_record_customer_message(complaint_id=complaint.pk, body="Here it is.", acting_user=agent)
    complaint.refresh_from_db()
    assert complaint.status == "in_progress"
    assert complaint.paused_since is None
    assert complaint.internal_paused == timedelta(days=3, hours=6)
    assert complaint.internal_target_at == at(date(2026, 11, 28), 16)
    assert complaint.respond_by == respond_by == at(date(2026, 12, 5))
    assert complaint.next_due_at == respond_by


def test_extension_once_by_a_supervisor_with_a_reason(agent, supervisor, clock):
    complaint = working(file(open_account()), agent)
    clock.shift(timedelta(days=10))
    before = world()
    with pytest.raises(ValidationFailed):
        complaint_extend_deadline(complaint_id=complaint.pk, reason_text="", acting_user=supervisor)
    assert world() == before
    complaint_extend_deadline(complaint_id=complaint.pk, reason_text="Bank records take 3 weeks.",
                                       acting_user=supervisor)
    complaint.refresh_from_db()
    assert complaint.respond_by == at(date(2026, 12, 20))  # 30 days from receipt
    assert complaint.next_due_at == complaint.respond_by
    assert (complaint.extended_by, complaint.extension_reason) == (supervisor, "Bank records take 3 weeks.")
    event = AuditEvent.objects.get(action="complaint.deadline_extended")
    assert (event.actor, event.before["respond_by"], event.reason) == (
        supervisor, at(date(2026, 12, 5)).isoformat(), "Bank records take 3 weeks.")
    assert Notification.objects.filter(kind="complaint_deadline_extended").count() == 1
    before = world()
    with pytest.raises(Conflict) as twice:
        complaint_extend_deadline(complaint_id=complaint.pk, reason_text="again", acting_user=supervisor)
    assert twice.value.code == "already_extended"
    assert world() == before


def test_no_extension_after_the_15_day_deadline_passed(agent, supervisor, clock):
    complaint = working(file(open_account()), agent)
    clock.shift(timedelta(days=15, seconds=1))
    before = world()
    with pytest.raises(Conflict) as late:
        complaint_extend_deadline(complaint_id=complaint.pk, reason_text="late", acting_user=supervisor)
    assert late.value.code == "deadline_passed"
    assert world() == before


def test_reopening_starts_a_new_round_with_its_own_deadline(agent, supervisor, clock):
    complaint = working(file(open_account()), agent)
    complaint_resolve(complaint_id=complaint.pk, resolution="Done.", acting_user=agent)
    clock.shift(timedelta(days=3))
    complaint_reopen(complaint_id=complaint.pk, note="Customer says the limit is still low.",
                              acting_user=agent)
    complaint.refresh_from_db()
    assert (complaint.status, complaint.round, complaint.reopened_count) == ("in_progress", 2, 1)
    assert complaint.received_at == at(START)
    assert complaint.respond_by == at(date(2026, 12, 8))
    assert (complaint.resolved_at, complaint.resolution) == (None, "")
    complaint_extend_deadline(complaint_id=complaint.pk, reason_text="new evidence", acting_user=supervisor)
    complaint.refresh_from_db()
    assert complaint.respond_by == at(date(2026, 12, 23))
    complaint_resolve(complaint_id=complaint.pk, resolution="Fixed now.", acting_user=agent)
    assert Notification.objects.filter(kind="complaint_resolved").count() == 2


# --- escalation ------------------------------------------------------------------------------------


def test_the_nightly_close_escalates_each_missed_deadline_once(agent, clock):
    open_account()
    late = file(external_id="cx-1")
    on_time = working(file(external_id="cx-1", category="other"), agent)
    complaint_resolve(complaint_id=on_time.pk, resolution="Answered.", acting_user=agent)

    close_until(date(2026, 11, 21))  # closes 20 Nov: at midnight the acknowledgement is not due yet
    late.refresh_from_db()
    assert not late.escalated
    close_until(date(2026, 11, 22))  # closes 21 Nov: the acknowledgement (21 Nov 10:00) was missed
    late.refresh_from_db()
    assert (late.escalated, late.acknowledge_breached, late.response_breached) == (True, True, False)
    assert late.escalated_at == at(date(2026, 11, 22), 0)
    # the close's run record (config.cob, a layer above this app: looked up by name, not imported)
    step = apps.get_model("cob", "CobStepRun").objects.get(run__business_date=date(2026, 11, 21),
                                                           step="escalate_deadlines")
    assert step.detail["complaints"]["escalated"] == 1

    close_until(date(2026, 12, 5))  # nothing new until the final response is due
    assert AuditEvent.objects.filter(action="complaint.escalated").count() == 1
    close_until(date(2026, 12, 6))  # closes 5 Dec: the final response (5 Dec 10:00) was missed
    late.refresh_from_db()
    assert late.response_breached
    escalations = list(AuditEvent.objects.filter(action="complaint.escalated").order_by("id")
                       .values_list("object_id", "after__breach"))
    assert escalations == [(str(late.pk), "acknowledge"), (str(late.pk), "response")]
    on_time.refresh_from_db()
    assert not on_time.escalated
    # a day run twice escalates nothing twice
    assert complaints_escalate_breaches(now=at(date(2026, 12, 7))) == 0


def test_an_acknowledgement_made_late_between_sweeps_is_still_a_breach(agent, clock):
    complaint = file(open_account())
    complaint_assign(complaint_id=complaint.pk, assignee=agent, acting_user=agent)
    clock.shift(timedelta(days=1, hours=1))
    complaint_start(complaint_id=complaint.pk, acting_user=agent)
    assert complaints_escalate_breaches() == 1
    complaint.refresh_from_db()
    assert (complaint.acknowledge_breached, complaint.escalated) == (True, True)


def test_refusals_are_application_errors_with_codes(agent):
    complaint = file(open_account())
    with pytest.raises(ApplicationError) as refused:
        complaint_resolve(complaint_id=complaint.pk, resolution="x", acting_user=agent)
    assert (refused.value.status_code, refused.value.code) == (409, "invalid_transition")
    with pytest.raises(ApplicationError) as missing:
        complaint_start(complaint_id=424242, acting_user=agent)
    assert missing.value.status_code == 404
