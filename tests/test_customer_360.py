"""The customer 360° page end to end on real PostgreSQL: a customer who applied through the
storefront API, bought, repaid, complained and asked to close, read back by staff of each
role; the query count does not grow with the customer's history."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.audit_trail import audit_record
from accounts.models import AuditEvent, CreditAccount, Customer, Notification
from complaints.services.closures import closure_request_create
from complaints.services.complaints import complaint_assign, complaint_file
from complaints.tests.helpers import START, at, ensure_grants, staff
from conftest import applicant_payload, make_id_number
from installments.services.purchases import purchase_create
from installments.services.repayments import repayment_create

pytestmark = [pytest.mark.django_db]

ID_NUMBER = make_id_number("11010519800101123")


@pytest.fixture(autouse=True)
def _world(business_date):
    ensure_grants()
    with time_machine.travel(at(START), tick=False):
        yield


def apply(api, external_id: str, phone: str, id_number: str = ID_NUMBER) -> Customer:
    response = api.post("/api/v1/applications", applicant_payload(external_id=external_id, phone=phone,
                                                                  id_number=id_number), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "approved", response.json()
    return Customer.objects.get(external_id=external_id)


def history(customer: Customer, n: int, agent: User) -> CreditAccount:
    """``n`` purchases, ``n`` repayments and ``n`` complaints (each assigned and answered), one
    closure request, through the real services."""
    account = CreditAccount.objects.get(customer=customer)
    for i in range(n):
        purchase_create(account_id=account.pk, merchant_order_id=f"{customer.external_id}-o{i}",
                                             amount=Decimal("30.00"), periods=3)
    for i in range(n):
        repayment_create(account_id=account.pk, reference=f"{customer.external_id}-r{i}",
                                    amount=Decimal("5.00"))
    for _ in range(n):
        complaint = complaint_file(
            customer_external_id=customer.external_id, category="limit_not_restored", channel="app",
            description="My limit did not come back.", account_id=account.pk, acting_user=agent)
        complaint_assign(complaint_id=complaint.pk, assignee=agent, acting_user=agent)
    closure_request_create(account_id=account.pk, channel="app", note="moving abroad",
                                              acting_user=agent)
    return account


def url(customer: Customer) -> str:
    return reverse("admin:accounts_customer_360", args=[customer.pk])


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def section_ids(html: str) -> set[str]:
    return set(re.findall(r'<div class="module account-section" id="([\w-]+)"', html))


ALL_SECTIONS = {"customer", "account", "plans", "statements", "repayments", "restoration-holds", "payment-attempts", "penalties",
                "applications", "complaints", "closure-requests", "notifications", "audit-trail"}


def test_the_page_shows_every_part_with_money_in_two_decimals_and_the_id_number_masked(api):
    admin = User.objects.create_superuser("root", password="pw")
    agent = staff("agent", "CS agent")
    customer = apply(api, "u-360", "13800000360")
    account = history(customer, 2, agent)
    account.refresh_from_db()

    response = logged_in(admin).get(url(customer))
    assert response.status_code == 200
    html = response.content.decode()
    assert section_ids(html) == ALL_SECTIONS
    assert ID_NUMBER not in html
    assert customer.id_number_masked in html and customer.id_number_masked != ID_NUMBER
    assert customer.phone not in html
    assert f'id="credit-limit">{account.credit_limit:.2f}<' in html
    assert f'id="available-limit">{account.available_limit:.2f}<' in html
    assert account.available_limit == Decimal("20000.00") - Decimal("60.00") + Decimal("10.00")
    # the purchases' plans, the repayments, the complaints, the closure request, the application
    for order in ("u-360-o0", "u-360-o1"):
        assert f"Purchase {order}" in html
    assert html.count("u-360-r") == 2
    assert html.count('href="/admin/complaints/complaint/') >= 2
    assert reverse("admin:complaints_closurerequest_change",
                   args=[customer.credit_account.closure_requests.get().pk]) in html
    application = customer.applications.get()
    assert reverse("admin:risk_application_change", args=[application.pk]) in html
    # the audit trail lists the events of the customer's objects, newest first
    events = re.findall(r"<code>([a-z_.]+)</code></a>", html.split('id="audit-trail"')[1])
    assert events[0] == "closure_request.created"
    assert "application.received" in events or len(events) == 20
    # the history of status and limit, each written once when the account opened
    assert "ACCOUNT_OPENED" in html.split('id="status-history"')[1].split("</table>")[0]
    assert "20000.00" in html.split('id="limit-history"')[1].split("</table>")[0]


def test_reachable_from_customer_search_account_page_and_complaint_page(api):
    admin = User.objects.create_superuser("root", password="pw")
    customer = apply(api, "u-361", "13800000361")
    complaint = complaint_file(
        customer_external_id=customer.external_id, category="other", channel="app", description="Question.",
        account_id=customer.credit_account.pk, acting_user=admin)
    client = logged_in(admin)
    target = f'href="{url(customer)}"'
    search = client.get(reverse("admin:accounts_customer_changelist"), {"q": customer.external_id})
    assert target in search.content.decode()
    assert target in client.get(reverse("admin:accounts_creditaccount_change",
                                        args=[customer.credit_account.pk])).content.decode()
    assert target in client.get(reverse("admin:complaints_complaint_change", args=[complaint.pk])).content.decode()
    assert target in client.get(reverse("admin:accounts_customer_change", args=[customer.pk])).content.decode()


def _queries(client: Client, customer: Customer) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url(customer))
    assert response.status_code == 200
    return [q["sql"] for q in captured.captured_queries]


# session, user, staff profile; the customer with account and policy; the business date; the
# account's status and limit history (2); plans with their installments (2), repayments,
# holds, statements, attempts, penalties (5); applications with review cases; complaints;
# closure requests; notifications; the audit trail (2: the ids of the customer's objects in
# one UNION, then their events); the header's unread staff notifications; the superuser needs no
# permission queries
PAGE_QUERIES = 21


def test_query_count_does_not_grow_with_years_of_history(api):
    admin = User.objects.create_superuser("root", password="pw")
    agent = staff("agent", "CS agent")
    few = apply(api, "u-few", "13800000371", make_id_number("11010519800101124"))
    many = apply(api, "u-many", "13800000372", make_id_number("11010519800101125"))
    history(few, 3, agent)
    history(many, 30, agent)
    for _ in range(40):  # more audit rows than the block shows
        audit_record(acting_user=agent, action="test.viewed", obj=many.credit_account)
    client = logged_in(admin)
    client.get(url(few))
    few_queries, many_queries = _queries(client, few), _queries(client, many)
    assert len(few_queries) == len(many_queries) == PAGE_QUERIES, "\n".join(many_queries)
    html = client.get(url(many)).content.decode()
    assert "Only the latest complaints are shown." in html
    assert "Only the latest repayments are shown." in html
    assert "Only the latest events are shown." in html
    # the "show all" links lead to lists filtered on this customer, showing all 30
    complaints = client.get(reverse("admin:complaints_complaint_changelist"),
                            {"customer__id__exact": many.pk, "closed": "include"})
    assert complaints.context["cl"].result_count == 30
    repayment_list = client.get(reverse("admin:installments_repayment_changelist"),
                                {"account__id__exact": many.credit_account.pk})
    assert repayment_list.context["cl"].result_count == 30


def test_each_role_sees_the_blocks_its_permissions_allow(api):
    agent = staff("agent", "CS agent")
    customer = apply(api, "u-362", "13800000362")
    history(customer, 1, agent)
    seen = {}
    for username, group in (("agent2", "CS agent"), ("supervisor", "CS supervisor"), ("reviewer", "Risk reviewer"),
                            ("manager", "Risk manager")):
        response = logged_in(staff(username, group)).get(url(customer))
        assert response.status_code == 200, username
        seen[group] = section_ids(response.content.decode())
    money = {"customer", "account", "plans", "statements", "repayments", "restoration-holds", "payment-attempts", "penalties",
             "applications"}
    assert seen["CS agent"] == money | {"complaints", "closure-requests", "notifications"}
    assert seen["CS supervisor"] == money | {"complaints", "closure-requests", "notifications", "audit-trail"}
    assert seen["Risk reviewer"] == money
    assert seen["Risk manager"] == money | {"closure-requests", "audit-trail"}


def test_staff_without_the_account_permission_are_refused_and_see_nothing(api):
    customer = apply(api, "u-363", "13800000363")
    events_before = AuditEvent.objects.count()
    notifications_before = Notification.objects.count()
    for user in (staff("ops", "Operations"), staff("nobody", None)):
        response = logged_in(user).get(url(customer))
        assert response.status_code == 403
        html = response.content.decode()
        assert customer.external_id not in html and customer.name not in html
    anonymous = Client().get(url(customer))
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert AuditEvent.objects.count() == events_before
    assert Notification.objects.count() == notifications_before


def test_an_unknown_or_malformed_customer_id_is_a_redirect_not_an_error():
    admin = User.objects.create_superuser("root", password="pw")
    client = logged_in(admin)
    for bad in ("999999", "abc", "9" * 30):
        response = client.get(f"/admin/accounts/customer/{bad}/360/")
        assert response.status_code == 302, bad


def test_a_customer_without_an_account_shows_applications_and_says_so(api):
    admin = User.objects.create_superuser("root", password="pw")
    response = api.post("/api/v1/applications", applicant_payload(
        external_id="u-thin", phone="13800000364", store_since="2026-10-01", orders_12m=1, spend_12m="300.00",
        return_rate="0.20"), format="json")
    assert response.json()["status"] == "rejected"
    customer = Customer.objects.get(external_id="u-thin")
    html = logged_in(admin).get(url(customer)).content.decode()
    assert "This customer has no credit account." in html
    assert section_ids(html) == {"customer", "account", "applications", "complaints", "notifications",
                                 "audit-trail"}
    assert "SCORE_BELOW_THRESHOLD" in html
