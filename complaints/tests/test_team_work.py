"""Complaints team work (decision 0033): the supervisors' queue of waivers awaiting approval
and its dashboard count, staff notifications (a waiver starts waiting, complaints assigned, a
deadline about to pass, a deadline breached — each once), reply templates, deadline clocks on
the list and the complaint page."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from accounts.models import AuditEvent, StaffNotification
from complaints import reply_templates, selectors
from complaints.models import Category, Complaint, Waiver, WaiverStatus
from complaints.services.assignment import complaints_assign_many
from complaints.services.complaints import (
    complaint_assign,
    complaint_extend_deadline,
    complaint_reopen,
    complaint_resolve,
    complaints_escalate_breaches,
)
from complaints.services.deadline_alerts import complaints_warn_due_soon
from complaints.services.remedies import complaint_waiver_request
from complaints.services.sweeps import complaints_sweep
from installments.models import Installment
from installments.services.fees import fees_post_due_accounts

from .helpers import buy, client_for, file, open_account, staff, working

pytestmark = pytest.mark.django_db

QUEUE = reverse("admin:complaints_complaint_waiver_queue")
CHANGELIST = reverse("admin:complaints_complaint_changelist")
INDEX = reverse("admin:index")


def inbox(user, kind: str | None = None) -> list[str]:
    rows = StaffNotification.objects.filter(recipient=user).order_by("id")
    if kind:
        rows = rows.filter(kind=kind)
    return list(rows.values_list("message", flat=True))


def waive(complaint: Complaint, user, item: Installment, amount: str) -> Waiver:
    return complaint_waiver_request(complaint_id=complaint.pk, kind="fee", item_id=item.pk, amount=Decimal(amount),
                                    reason_text="goodwill", acting_user=user)


# --- the waiver queue -----------------------------------------------------------------------------


def fee_complaint_with(n: int, agent, *, amount: str) -> tuple[Complaint, Installment]:
    account = open_account(n, limit=amount)
    buy(account, amount=amount, periods=3, order=f"o-{n}")
    first = Installment.objects.filter(account=account).order_by("seq").first()
    assert first is not None
    fees_post_due_accounts(account_ids=[account.pk], business_date=first.due_date)
    first.refresh_from_db()
    return working(file(account, category="fee_dispute"), agent), first


def test_waivers_above_the_cap_wait_in_the_queue_oldest_first_with_the_items_total(agent, supervisor, clock):
    complaint, fee = fee_complaint_with(1, agent, amount="60000.00")
    assert fee.fee == Decimal("360.00")
    applied = waive(complaint, agent, fee, "90.00")
    clock.shift(timedelta(minutes=5))
    waiting_1 = waive(complaint, agent, fee, "30.00")
    clock.shift(timedelta(minutes=5))
    other, other_fee = fee_complaint_with(2, agent, amount="60000.00")
    waive(other, agent, other_fee, "100.00")
    waiting_2 = waive(other, agent, other_fee, "20.00")
    waiting_3 = waive(complaint, agent, fee, "20.00")

    queue = list(selectors.waivers_awaiting_approval())

    assert applied.status == WaiverStatus.APPLIED
    assert [w.pk for w in queue] == [waiting_1.pk, waiting_2.pk, waiting_3.pk]
    # what the cap counts on each item: applied and pending waivers
    assert [w.item_total for w in queue] == [Decimal("140.00"), Decimal("120.00"), Decimal("140.00")]
    assert selectors.waiver_queue_figures() == {"waiting": 3, "oldest": waiting_1.created_at,
                                                 "amount": Decimal("70.00")}


def test_a_waiver_that_starts_waiting_is_announced_to_every_supervisor_once(agent, supervisor):
    second_supervisor = staff("supervisor2", "CS supervisor")
    complaint, fee = fee_complaint_with(1, agent, amount="60000.00")
    waive(complaint, agent, fee, "100.00")  # applied: nobody is told
    assert StaffNotification.objects.count() == 0

    waiting = waive(complaint, agent, fee, "0.01")

    assert waiting.status == WaiverStatus.PENDING
    for user in (supervisor, second_supervisor):
        assert inbox(user, "waiver_awaiting_approval") == [
            f"A waiver of 0.01 on complaint #{complaint.pk} awaits your approval (requested by agent; "
            "100.01 in total on the item)."]
    assert StaffNotification.objects.filter(recipient=agent).count() == 0
    assert StaffNotification.objects.get(recipient=supervisor).link == QUEUE


def test_the_queue_page_lists_and_decides_in_constant_queries(agent, supervisor):
    complaint, fee = fee_complaint_with(1, agent, amount="60000.00")
    waive(complaint, agent, fee, "100.00")
    pending = [waive(complaint, agent, fee, "1.00") for _ in range(3)]
    client = client_for(supervisor)
    client.get(QUEUE)  # warm-up: session, permissions

    with CaptureQueriesContext(connection) as few:
        response = client.get(QUEUE)
    assert response.status_code == 200
    assert [w.pk for w in response.context["waivers"]] == [w.pk for w in pending]
    for n in range(2, 8):
        other, other_fee = fee_complaint_with(n, agent, amount="60000.00")
        waive(other, agent, other_fee, "100.00")
        waive(other, agent, other_fee, "5.00")
        waive(other, agent, other_fee, "5.00")
    with CaptureQueriesContext(connection) as many:
        response = client.get(QUEUE)
    assert len(response.context["waivers"]) == 15
    assert len(many.captured_queries) == len(few.captured_queries) == WAIVER_QUEUE_QUERIES, \
        "\n".join(q["sql"] for q in many.captured_queries)

    decided = client.post(reverse("admin:complaints_complaint_waiver_approve", args=[pending[0].pk]),
                          {"next": "queue"})
    assert decided.status_code == 302 and decided["Location"] == QUEUE
    assert Waiver.objects.get(pk=pending[0].pk).status == WaiverStatus.APPLIED
    rejected = client.post(reverse("admin:complaints_complaint_waiver_reject", args=[pending[1].pk]),
                           {"next": "queue", "note": "enough"})
    assert rejected["Location"] == QUEUE
    assert Waiver.objects.get(pk=pending[1].pk).status == WaiverStatus.REJECTED


# session, user, staff profile (language), the user's permissions (2: own, groups'), the waivers with
# their complaints, customers, agents and items and the totals on each item (1), unread staff
# notifications in the header (1)
WAIVER_QUEUE_QUERIES = 7


def test_only_waiver_approvers_open_the_queue_and_see_its_widget(agent, supervisor):
    complaint, fee = fee_complaint_with(1, agent, amount="60000.00")
    waive(complaint, agent, fee, "100.00")
    waive(complaint, agent, fee, "7.50")

    assert client_for(agent).get(QUEUE).status_code == 403
    assert 'id="widget-waivers"' not in client_for(agent).get(INDEX).content.decode()
    html = client_for(supervisor).get(INDEX).content.decode()
    assert 'id="widget-waivers"' in html
    assert f'href="{QUEUE}" class="figure warn" id="waivers-waiting">1</a>' in html
    assert 'id="waivers-amount">7.50<' in html


def test_a_bad_waiver_id_on_the_queue_is_a_message_not_an_error(supervisor):
    client = client_for(supervisor)
    response = client.post(reverse("admin:complaints_complaint_waiver_approve", args=[999999]), {"next": "queue"})
    assert response.status_code == 302 and response["Location"] == QUEUE


# --- assignment notifications ----------------------------------------------------------------------


def test_an_agent_is_told_which_complaints_a_supervisor_gave_them(agent, agent2, supervisor):
    one = file(open_account(1))
    complaint_assign(complaint_id=one.pk, assignee=agent2, acting_user=supervisor)
    assert inbox(agent2, "complaint_assigned") == [f"supervisor assigned complaint #{one.pk} to you."]
    taken = file(open_account(2))
    complaint_assign(complaint_id=taken.pk, assignee=agent, acting_user=agent)  # taking one's own: no message
    assert inbox(agent) == []

    many = [file(open_account(n)).pk for n in range(3, 6)]
    complaints_assign_many(complaint_ids=many, assignee=agent, acting_user=supervisor)

    refs = ", ".join(f"#{pk}" for pk in many)
    assert inbox(agent, "complaint_assigned") == [f"supervisor assigned 3 complaints to you: {refs}."]


# --- deadline warnings and breaches ----------------------------------------------------------------


def test_the_agent_is_warned_2_hours_before_acknowledgement_once_then_agent_and_supervisors_on_breach(
        agent, supervisor, clock):
    complaint = file(open_account(1))
    complaint_assign(complaint_id=complaint.pk, assignee=agent, acting_user=agent)
    clock.shift(timedelta(hours=21, minutes=59))
    assert complaints_warn_due_soon() == 0  # 2 h 1 min left
    clock.shift(timedelta(minutes=1))

    assert complaints_warn_due_soon() == 1
    assert complaints_warn_due_soon() == 0  # never twice for the same deadline
    assert complaints_sweep()["warned"] == 0

    assert inbox(agent) == [f"Complaint #{complaint.pk} must be acknowledged by 2026-11-21 10:00: less than 2 "
                            "hours left."]
    assert inbox(supervisor) == []  # the agent has it
    assert Complaint.objects.get(pk=complaint.pk).due_warned_for == complaint.acknowledge_by

    clock.shift(timedelta(hours=2, seconds=1))
    assert complaints_escalate_breaches() == 1
    assert complaints_escalate_breaches() == 0
    breach = (f"Complaint #{complaint.pk} missed its acknowledgement deadline (2026-11-21 10:00) and is escalated "
              "to the supervisors.")
    assert inbox(agent, "complaint_deadline_breached") == [breach]
    assert inbox(supervisor, "complaint_deadline_breached") == [breach]


def test_unassigned_complaints_warn_the_supervisors_and_each_new_deadline_warns_again(agent, supervisor, clock):
    unassigned = file(open_account(1))
    clock.shift(timedelta(hours=23))
    complaints_warn_due_soon()
    assert len(inbox(supervisor, "complaint_deadline_soon")) == 1
    assert inbox(agent) == []

    in_work = working(file(open_account(2)), agent)  # acknowledged: its next deadline is the final response
    clock.shift(timedelta(days=14, hours=1))  # 23 h before the 15 days end
    assert complaints_warn_due_soon() == 1
    assert inbox(agent, "complaint_deadline_soon")[-1].startswith(
        f"Complaint #{in_work.pk} needs its final response by")
    complaint_extend_deadline(complaint_id=in_work.pk, reason_text="waiting for the bank", acting_user=supervisor)
    assert complaints_warn_due_soon() == 0  # the new deadline is 15 days away
    clock.shift(timedelta(days=15))
    assert complaints_warn_due_soon() == 1  # the extended deadline: warned once more
    assert complaints_warn_due_soon() == 0
    assert len(inbox(agent, "complaint_deadline_soon")) == 2
    assert not Complaint.objects.get(pk=unassigned.pk).acknowledge_breached  # a warning escalates nothing


def test_a_reopened_complaint_gets_a_new_warning_and_a_new_breach(agent, supervisor, clock):
    complaint = working(file(open_account(1)), agent)
    complaint_resolve(complaint_id=complaint.pk, resolution="done", acting_user=agent)
    complaint_reopen(complaint_id=complaint.pk, note="customer disagrees", acting_user=agent)
    clock.shift(timedelta(days=14, hours=12))
    complaints_sweep()
    clock.shift(timedelta(hours=13))
    complaints_sweep()
    complaints_sweep()
    assert len(inbox(agent, "complaint_deadline_soon")) == 1
    assert len(inbox(agent, "complaint_deadline_breached")) == 1
    assert len(inbox(supervisor, "complaint_deadline_breached")) == 1
    assert AuditEvent.objects.filter(action="complaint.escalated", object_id=str(complaint.pk)).count() == 1


def test_a_catch_up_close_does_not_warn_about_deadlines_already_past(agent, clock):
    complaint = file(open_account(1))
    complaint_assign(complaint_id=complaint.pk, assignee=agent, acting_user=agent)
    clock.shift(timedelta(days=3))
    assert complaints_warn_due_soon(now=complaint.acknowledge_by - timedelta(hours=1)) == 0
    assert inbox(agent) == []


# --- reply templates --------------------------------------------------------------------------------


def test_every_template_renders_in_every_language_with_masked_facts(agent):
    account = open_account(1, limit="2000.00")
    complaint = working(file(account, category="fee_dispute"), agent)
    complaint = selectors.complaint_get(complaint.pk)
    assert complaint is not None
    values = reply_templates.placeholder_values(complaint, waived=Decimal("12.50"))
    assert set(values) == set(reply_templates.PLACEHOLDERS)
    assert values["customer_name"] == "S** Q*"  # Sun Qi
    assert values["account"] == "****" + f"{account.pk:04d}"[-4:]
    assert values["available_limit"] == "2,000.00" and values["waived"] == "12.50"
    for language in ("en", "zh-hans"):
        for template in reply_templates.TEMPLATES:
            text = reply_templates.render(template, values, language)
            assert "%(" not in text and "Sun Qi" not in text


def test_templates_of_the_category_and_form_in_the_customers_language(agent):
    complaint = working(file(open_account(1), category="fee_dispute"), agent)
    complaint = selectors.complaint_get(complaint.pk)
    assert complaint is not None
    replies = {t.key for t in reply_templates.templates_for(complaint, reply_templates.REPLY)}
    finals = {t.key for t in reply_templates.templates_for(complaint, reply_templates.RESOLUTION)}
    assert replies == {"ask_details", "still_working"}
    assert finals == {"resolved_generic", "fee_waived", "charges_correct"}
    complaint.customer.language = "en"
    with translation.override("zh-hans"):  # the agent reads Chinese; the customer English
        filled = reply_templates.templates_for(complaint, reply_templates.REPLY)
    assert filled[0].text.startswith("Dear S** Q*, thank you for contacting us about complaint")
    for category in Category.values:
        assert reply_templates.TEMPLATES[0].fits(category, reply_templates.REPLY)


def test_the_complaint_page_offers_the_filled_templates_to_its_handler_only(agent, agent2):
    complaint = working(file(open_account(1), category="limit_not_restored"), agent)
    page = reverse("admin:complaints_complaint_change", args=[complaint.pk])
    html = client_for(agent).get(page).content.decode()
    assert 'class="reply-template" data-target="id_reply_body"' in html
    assert 'class="reply-template" data-target="id_resolution"' in html
    assert 'id="id_reply_body"' in html and "complaints/reply_templates.js" in html
    assert "available limit is now 1,000.00 of 1,000.00" in html or "1,000.00" in html
    assert 'class="reply-template"' not in client_for(agent2).get(page).content.decode()


# --- deadline clocks ----------------------------------------------------------------------------------


def test_the_list_and_the_page_show_live_clocks(agent, clock):
    complaint = file(open_account(1))
    clock.shift(timedelta(hours=20))
    html = client_for(agent).get(CHANGELIST).content.decode()
    assert "4 h 0 min left" in html and "accounts/deadline_clock.js" in html
    page = client_for(agent).get(reverse("admin:complaints_complaint_change", args=[complaint.pk])).content.decode()
    assert "4 h 0 min left" in page  # acknowledgement
    assert "14 d 4 h left" in page  # final response


# --- the CSV export of the filtered list ---------------------------------------------------------------

EXPORT = reverse("admin:complaints_complaint_export_csv")


LAST_QUERIES: list[str] = []


def export_rows(client, query: dict) -> tuple[list[list[str]], int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(EXPORT, query)
        assert response.status_code == 200, response
        body = b"".join(response.streaming_content).decode("utf-8-sig")
    LAST_QUERIES[:] = [q["sql"][:70] for q in queries.captured_queries]
    return [line.split(",") for line in body.strip().split("\r\n")], len(queries.captured_queries)


def test_an_agent_exports_the_rows_of_the_filter_masked_audited_in_constant_queries(agent, clock):
    for n in range(1, 4):
        file(open_account(n), category="fee_dispute" if n < 3 else "other")
    client = client_for(agent)
    assert "export.csv" in client.get(CHANGELIST, {"category__exact": "fee_dispute"}).content.decode()

    rows, few = export_rows(client, {"category__exact": "fee_dispute"})

    header, *data = rows
    assert header[:4] == ["complaint", "received at", "store customer id", "customer (masked)"]
    assert "acknowledgement deadline breached" in header and "final response by" in header
    assert sorted(r[2] for r in data) == ["cx-1", "cx-2"]
    assert {r[3] for r in data} == {"S** Q*"}
    body = ",".join(",".join(r) for r in rows)
    assert "Sun Qi" not in body and "11010519491231002X" not in body and "My limit" not in body
    event = AuditEvent.objects.get(action="export_csv")
    assert (event.actor_id, event.object_id, event.after["rows"]) == (agent.pk, "complaints", 2)
    assert event.after["filters"] == {"category__exact": "fee_dispute"}

    for n in range(4, 14):
        file(open_account(n), category="fee_dispute")
    rows, many = export_rows(client, {"category__exact": "fee_dispute"})
    assert len(rows) == 13 and many == few == EXPORT_QUERIES, LAST_QUERIES


# the request's session, user, staff profile and permissions, the row count and the audit row, and
# the rows with their customers and agents through one server-side cursor: the same for 2 rows or 12
EXPORT_QUERIES = 10


def test_a_bad_filter_exports_nothing_and_says_so(agent):
    file(open_account(1))
    response = client_for(agent).get(EXPORT, {"status__exact": "nonsense", "assigned_to__id__exact": "x"})
    assert response.status_code == 302
    assert not AuditEvent.objects.filter(action="export_csv").exists()


def test_staff_without_the_permission_cannot_export(manager):
    assert client_for(manager).get(EXPORT).status_code == 403
    assert not AuditEvent.objects.filter(action="export_csv").exists()


def test_the_list_with_clocks_runs_the_same_queries_for_3_and_30_complaints(agent, supervisor):
    def measure(client) -> tuple[int, int]:
        client.get(CHANGELIST)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(CHANGELIST)
        assert response.status_code == 200
        assert response.content.decode().count('class="deadline-clock') == len(response.context["cl"].result_list)
        return len(queries.captured_queries), len(response.context["cl"].result_list)

    clients = {"agent": client_for(agent), "supervisor": client_for(supervisor)}
    for n in range(1, 4):
        working(file(open_account(n)), agent)
    few = {who: measure(client) for who, client in clients.items()}
    for n in range(4, 31):
        complaint = file(open_account(n))
        if n % 2:
            complaint_assign(complaint_id=complaint.pk, assignee=agent, acting_user=agent)
    many = {who: measure(client) for who, client in clients.items()}

    assert {who: rows for who, (_q, rows) in few.items()} == {"agent": 3, "supervisor": 3}
    assert {who: rows for who, (_q, rows) in many.items()} == {"agent": 30, "supervisor": 30}
    assert {who: q for who, (q, _rows) in many.items()} == {who: q for who, (q, _rows) in few.items()} \
        == CHANGELIST_QUERIES


# the same 8 for 3 or 30 rows (the request's session, user, profile and permissions, the page of
# complaints with their customers and agents, the header's unread count): the clocks and badges
# are computed from the row's own columns, and the supervisor's bulk action needs no query
CHANGELIST_QUERIES = {"agent": 8, "supervisor": 8}
