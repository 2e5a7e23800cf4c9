"""The audit trail on real PostgreSQL: a sample of services and admin actions write exactly the
expected rows in their transaction; the audit list's filters and search find a customer's,
an object's, a user's and a period's events and nothing else; only its holders see it."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from accounts.models import AuditEvent, Customer, StaffProfile
from complaints.services.complaints import complaint_assign, complaint_file, complaint_start
from complaints.tests.helpers import START, at, buy, close_until, ensure_grants, open_account, staff
from conftest import applicant_payload, upsert_customer
from installments.models import PaymentAttempt

pytestmark = [pytest.mark.django_db]

AUDIT = reverse("admin:accounts_auditevent_changelist")
PROFILE = {"name": "Zhao Liu", "id_number": "11010519491231002X", "phone": "13911112222", "store_status": "normal",
           "store_since": date(2020, 1, 1), "orders_12m": 10, "spend_12m": Decimal("9000.00"),
           "return_rate": Decimal("0.01")}


@pytest.fixture(autouse=True)
def _world(business_date):
    ensure_grants()


def rows(**filters) -> list[tuple]:
    return list(AuditEvent.objects.filter(**filters).order_by("id").values_list(
        "actor_label", "action", "object_type", "object_id", "before", "after", "reason"))


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- services write exactly the expected rows -----------------------------------------------------


def test_a_customer_profile_is_audited_when_created_or_changed_with_personal_data_masked():
    customer = upsert_customer(external_id="u-a1", **PROFILE)
    assert rows(object_type="accounts.customer") == [(
        "system", "customer.created", "accounts.customer", str(customer.pk), {},
        {"name": "Zhao Liu", "id_number": "110***********002X", "phone": "139****2222", "store_status": "normal",
         "store_since": "2020-01-01", "orders_12m": "10", "spend_12m": "9000.00", "return_rate": "0.0100"},
        "store profile received")]
    upsert_customer(external_id="u-a1", **{**PROFILE, "spend_12m": Decimal("9000")})  # the same profile
    assert AuditEvent.objects.filter(object_type="accounts.customer").count() == 1
    upsert_customer(external_id="u-a1", **{**PROFILE, "phone": "13933334444", "orders_12m": 11})
    assert rows(action="customer.updated") == [(
        "system", "customer.updated", "accounts.customer", str(customer.pk),
        {"phone": "139****2222", "orders_12m": "10"}, {"phone": "139****4444", "orders_12m": "11"},
        "store profile received")]
    assert "13933334444" not in str(rows(action="customer.updated"))


def test_complaint_handling_writes_one_row_per_step_with_the_agent():
    account = open_account(1)
    agent = staff("agent", "CS agent")
    with time_machine.travel(at(START), tick=False):
        complaint = complaint_file(
            customer_external_id=account.customer.external_id, category="other", channel="phone",
            description="Where is my statement?", account_id=account.pk, acting_user=agent)
        complaint_assign(complaint_id=complaint.pk, assignee=agent, acting_user=agent)
        complaint_start(complaint_id=complaint.pk, acting_user=agent)
    events = rows(object_type="complaints.complaint", object_id=str(complaint.pk))
    assert [(e[0], e[1]) for e in events] == [("agent", "complaint.filed"), ("agent", "complaint.assigned"),
                                              ("agent", "complaint.acknowledged")]
    assert events[1][4]["status"] == "new" and events[1][5]["status"] == "assigned"
    assert events[1][5]["assigned_to"] == agent.pk
    assert events[2][4]["status"] == "assigned" and events[2][5]["status"] == "in_progress"


def test_an_unknown_auto_debit_settled_by_asking_the_gateway_is_a_recorded_transition():
    taken = open_account(1, card="tok_timeout_charged")
    not_taken = open_account(2, card="tok_timeout_not_charged")
    buy(taken, order="t")
    buy(not_taken, order="n")
    close_until(date(2026, 12, 22))  # due 12-20: both unknown; the 12-21 close asks the gateway
    first_taken = PaymentAttempt.objects.get(account=taken, business_date=date(2026, 12, 20))
    first_not_taken = PaymentAttempt.objects.get(account=not_taken, business_date=date(2026, 12, 20))
    assert (first_taken.status, first_not_taken.status) == ("succeeded", "not_charged")
    assert rows(action="payment_attempt.reconciled") == [
        ("system", "payment_attempt.reconciled", "installments.paymentattempt", str(attempt.pk),
         {"status": "unknown"}, {"status": attempt.status, "gateway_reference": attempt.gateway_reference},
         "outcome asked from the gateway")
        for attempt in sorted([first_taken, first_not_taken], key=lambda a: a.pk)]


def test_operations_switching_a_beat_schedule_off_and_retiming_it_are_audited():
    ops = staff("ops", "Operations")
    every = IntervalSchedule.objects.create(every=5, period="minutes")
    task = PeriodicTask.objects.create(name="sweep", task="complaints.tasks.sweep", interval=every, enabled=True)
    client = logged_in(ops)
    response = client.post(reverse("admin:django_celery_beat_periodictask_changelist"),
                           {"action": "disable_tasks", "_selected_action": [task.pk]})
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.enabled is False
    assert rows(object_type="django_celery_beat.periodictask") == [
        ("ops", "django_celery_beat.periodictask.disabled", "django_celery_beat.periodictask", str(task.pk),
         {"enabled": True}, {"enabled": False}, "admin action")]
    response = client.post(reverse("admin:django_celery_beat_intervalschedule_change", args=[every.pk]),
                           {"every": 7, "period": "minutes", "periodictask_set-TOTAL_FORMS": 1,
                            "periodictask_set-INITIAL_FORMS": 1, "periodictask_set-0-id": task.pk,
                            "periodictask_set-0-interval": every.pk})
    assert response.status_code == 302, re.findall(r"errorlist.{0,300}", response.content.decode())
    assert rows(object_type="django_celery_beat.intervalschedule") == [
        ("ops", "django_celery_beat.intervalschedule.changed", "django_celery_beat.intervalschedule", str(every.pk),
         {"every": 5}, {"every": 7}, "admin")]


def test_a_refused_schedule_change_changes_nothing_and_writes_nothing():
    agent = staff("agent", "CS agent")
    every = IntervalSchedule.objects.create(every=5, period="minutes")
    task = PeriodicTask.objects.create(name="sweep", task="complaints.tasks.sweep", interval=every, enabled=True)
    before = AuditEvent.objects.count()
    response = logged_in(agent).post(reverse("admin:django_celery_beat_periodictask_changelist"),
                                     {"action": "disable_tasks", "_selected_action": [task.pk]})
    assert response.status_code == 403
    task.refresh_from_db()
    assert task.enabled is True and AuditEvent.objects.count() == before


def test_a_staff_member_choosing_their_language_is_audited():
    agent = staff("agent", "CS agent")
    profile = StaffProfile.objects.create(user=agent, language="zh-hans")
    response = logged_in(agent).post(reverse("admin:accounts_staffprofile_change", args=[profile.pk]),
                                     {"language": "en"})
    assert response.status_code == 302
    assert rows(action="staff_profile.language_set") == [
        ("agent", "staff_profile.language_set", "accounts.staffprofile", str(profile.pk), {"language": "zh-hans"},
         {"user": "agent", "language": "en"}, "")]


# --- finding events ---------------------------------------------------------------------------------


@pytest.fixture
def two_customers():
    """Events of two customers' accounts and complaints, on two days, by two users."""
    agent, supervisor = staff("agent", "CS agent"), staff("supervisor", "CS supervisor")
    mine, other = open_account(1), open_account(2)
    with time_machine.travel(at(START), tick=False):
        complaint = complaint_file(
            customer_external_id=mine.customer.external_id, category="other", channel="app",
            description="?", account_id=mine.pk, acting_user=agent)
    with time_machine.travel(at(START + timedelta(days=3)), tick=False):
        complaint_assign(complaint_id=complaint.pk, assignee=agent, acting_user=supervisor)
        other_complaint = complaint_file(
            customer_external_id=other.customer.external_id, category="other", channel="app",
            description="?", account_id=other.pk, acting_user=agent)
    return {"mine": mine, "other": other, "complaint": complaint, "other_complaint": other_complaint,
            "supervisor": supervisor, "agent": agent}


def listed(client: Client, **params) -> set[int]:
    response = client.get(AUDIT, params)
    assert response.status_code == 200
    assert "?e=1" not in response.get("Location", "")
    return {event.pk for event in response.context["cl"].result_list} if response.context["cl"].result_count \
        else set()


def ids(**filters) -> set[int]:
    return set(AuditEvent.objects.filter(**filters).values_list("pk", flat=True))


def test_search_and_filters_find_exactly_the_events_asked_for(two_customers):
    mine, other, complaint = two_customers["mine"], two_customers["other"], two_customers["complaint"]
    client = logged_in(two_customers["supervisor"])
    mine_events = (ids(object_type="accounts.customer", object_id=str(mine.customer_id))
                   | ids(object_type="accounts.creditaccount", object_id=str(mine.pk))
                   | ids(object_type="complaints.complaint", object_id=str(complaint.pk)))
    assert len(mine_events) == 5  # created, account status and limit, complaint filed and assigned
    # a store customer id finds the customer's whole trail, and nothing of the other customer
    assert listed(client, q=mine.customer.external_id) == mine_events
    assert listed(client, customer=str(mine.customer_id)) == mine_events
    # an object's events
    assert listed(client, object_type="complaints.complaint", object_id=str(complaint.pk)) == ids(
        object_type="complaints.complaint", object_id=str(complaint.pk))
    assert listed(client, object_type="accounts.creditaccount", object_id=str(other.pk)) == ids(
        object_type="accounts.creditaccount", object_id=str(other.pk))
    # who, what, when
    assert listed(client, actor="supervisor") == ids(actor_label="supervisor") != set()
    assert listed(client, action="complaint.") == ids(action__startswith="complaint.") != set()
    day3 = (START + timedelta(days=3)).isoformat()
    assert listed(client, created_from=day3, created_to=day3) == ids(
        action__in=["complaint.assigned", "complaint.filed"], created_at__date=START + timedelta(days=3))
    assert listed(client, created_to=START.isoformat(), action="complaint.") == {
        AuditEvent.objects.get(action="complaint.filed", object_id=str(complaint.pk)).pk}
    # filters combine
    assert listed(client, customer=str(mine.customer_id), actor="supervisor") == ids(
        action="complaint.assigned", object_id=str(complaint.pk))
    # nonsense finds nothing rather than everything
    assert listed(client, created_from="not-a-date") == set()
    assert listed(client, customer="abc") == set()
    assert listed(client, q="no-such-customer") == set()


def test_the_trail_is_linked_from_the_account_and_customer_pages(two_customers):
    mine = two_customers["mine"]
    client = logged_in(two_customers["supervisor"])
    page = client.get(reverse("admin:accounts_creditaccount_change", args=[mine.pk])).content.decode()
    assert 'id="audit-trail"' in page
    assert re.search(r"account\.status_changed", page.split('id="audit-trail"')[1])
    link = re.search(r'<a href="([^"]+)" id="audit-trail-link"', page).group(1).replace("&amp;", "&")
    assert {e.pk for e in client.get(link).context["cl"].result_list} == ids(
        object_type="accounts.creditaccount", object_id=str(mine.pk))
    page = client.get(reverse("admin:accounts_customer_change", args=[mine.customer_id])).content.decode()
    link = re.search(r'<a href="([^"]+)" id="audit-trail-link"', page).group(1).replace("&amp;", "&")
    assert len(client.get(link).context["cl"].result_list) == 5


def test_only_holders_of_the_audit_permission_see_the_trail(two_customers):
    agent = two_customers["agent"]
    client = logged_in(agent)
    assert client.get(AUDIT).status_code == 403
    page = client.get(reverse("admin:accounts_creditaccount_change", args=[two_customers["mine"].pk]))
    assert page.status_code == 200 and 'id="audit-trail"' not in page.content.decode()
    assert 'id="audit-trail-link"' not in page.content.decode()


def test_revealing_the_full_id_number_writes_an_audit_row():
    admin = User.objects.create_superuser("root", password="pw")
    customer = upsert_customer(external_id="u-r1", **PROFILE)
    response = logged_in(admin).post(reverse("admin:accounts_customer_reveal_id_number", args=[customer.pk]),
                                     {"purpose": "complaint 12: identity check"})
    assert response.status_code == 200 and PROFILE["id_number"] in response.content.decode()
    assert rows(action="pii.id_number_viewed") == [
        ("root", "pii.id_number_viewed", "accounts.customer", str(customer.pk), {}, {},
         "complaint 12: identity check")]
    assert Customer.objects.get(pk=customer.pk).id_number_masked == "110***********002X"


def test_the_application_and_complaint_pages_link_their_own_trail_for_its_holders(api):
    response = api.post("/api/v1/applications", applicant_payload(external_id="u-link", phone="13800000999"),
                        format="json")
    application_id = response.json()["id"]
    customer = Customer.objects.get(external_id="u-link")
    with time_machine.travel(at(START), tick=False):
        complaint = complaint_file(
            customer_external_id="u-link", category="other", channel="app", description="?")
    supervisor, agent = staff("supervisor", "CS supervisor"), staff("agent", "CS agent")
    pages = {"application": reverse("admin:risk_application_change", args=[application_id]),
             "complaint": reverse("admin:complaints_complaint_change", args=[complaint.pk])}
    expected = {"application": ids(object_type="risk.application", object_id=str(application_id)),
                "complaint": ids(object_type="complaints.complaint", object_id=str(complaint.pk))}
    assert len(expected["application"]) >= 2 and len(expected["complaint"]) == 1
    client = logged_in(supervisor)
    for name, url in pages.items():
        page = client.get(url).content.decode()
        link = re.search(r'<a href="([^"]+)" id="audit-trail-link"', page).group(1).replace("&amp;", "&")
        assert {e.pk for e in client.get(link).context["cl"].result_list} == expected[name], name
    application_page = client.get(pages["application"]).content.decode()
    assert reverse("admin:accounts_customer_360", args=[customer.pk]) in application_page
    for url in pages.values():
        page = logged_in(agent).get(url).content.decode()
        assert 'id="audit-trail-link"' not in page


def test_storefront_writes_name_the_api_client_as_the_actor(api):
    """What the storefront does through the API is the API client's act, not the system's."""
    response = api.post("/api/v1/applications", applicant_payload(external_id="u-api"), format="json")
    assert response.status_code == 201
    account_id = response.json()["account_id"]
    assert api.post("/api/v1/complaints", {"customer_external_id": "u-api", "category": "other", "channel": "app",
                                           "description": "A question."}, format="json").status_code == 201
    assert api.post(f"/api/v1/accounts/{account_id}/closure-requests", {"channel": "app"},
                    format="json").status_code == 201
    by_action = {e.action: e for e in AuditEvent.objects.filter(
        action__in=["customer.created", "application.received", "complaint.filed", "closure_request.created"])}
    assert set(by_action) == {"customer.created", "application.received", "complaint.filed",
                              "closure_request.created"}
    for event in by_action.values():
        assert (event.actor_id, event.actor_label) == (None, "api:storefront"), event.action
    # the automatic decision that follows is the system's
    approved = AuditEvent.objects.get(action="application.approved")
    assert (approved.actor_id, approved.actor_label) == (None, "system")
