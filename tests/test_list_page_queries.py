"""Issue 6: every back-office list page runs the same number of SQL queries whatever the
number of rows it lists — 3 rows or 30. An N+1 (a column reading a relation per row, a
per-row permission or count) makes the second count larger and fails the test.

Data is made through the services; pages are read with the test client as a superuser (every
column and link shown) and, for the queues, as the staff who work them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.lifecycle import credit_line
from accounts.models import CreditAccount
from complaints.services.complaints import complaint_file
from conftest import upsert_customer
from installments.services.purchases import purchase_create
from installments.services.repayments import repayment_create
from risk.models import ScoringPolicy
from risk.services.applications import application_submit
from risk.tests.review_helpers import applicant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def start(business_date):
    return business_date


def open_account(n: int, card: str = "tok_ok") -> CreditAccount:
    customer = upsert_customer(external_id=f"lp-{n}", name=f"Customer {n}", id_number="11010519491231002X",
                               phone=f"1350000{n:04d}", store_status="normal", store_since=date(2020, 1, 1),
                               orders_12m=10, spend_12m=Decimal("9000.00"), return_rate=Decimal("0.01"))
    with transaction.atomic():
        return credit_line.open_account(customer=customer, credit_limit=Decimal("5000.00"), card_token=card,
                                   policy_version_id=ScoringPolicy.objects.get(status="active").pk,
                                   reason_code="ACCOUNT_OPENED", acting_user=None)


def add_rows(first: int, last: int) -> None:
    """Customers ``first``..``last - 1``: an account, a purchase (installments, a journal entry),
    a repayment, a complaint and an application in manual review each."""
    for n in range(first, last):
        account = open_account(n)
        purchase_create(account_id=account.pk, merchant_order_id=f"o-{n}",
                                             amount=Decimal("300.00"), periods=3)
        repayment_create(account_id=account.pk, reference=f"bank-{n}", amount=Decimal("10.00"))
        complaint_file(customer_external_id=account.customer.external_id,
                                          category="limit_not_restored", channel="app",
                                          description="My limit did not come back.", account_id=account.pk)
        application = application_submit(kind="activation", applicant=applicant(n),
                                                       card_token="tok_ok")
        assert application.status == "in_review", application.reasons


def superuser() -> User:
    return User.objects.create_user(username="root", password="pw", is_staff=True, is_superuser=True)


def member(username: str, group: str) -> User:
    user = User.objects.create_user(username=username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# (label, URL, the staff who read it, how many rows the page lists per customer)
PAGES = [
    ("review queue", reverse("admin:risk_reviewcase_changelist"), "root", 1),
    ("review queue, reviewer's default view", reverse("admin:risk_reviewcase_changelist"), "reviewer", 1),
    ("complaints", reverse("admin:complaints_complaint_changelist"), "root", 1),
    ("complaints, agent", reverse("admin:complaints_complaint_changelist"), "agent", 1),
    ("credit accounts", reverse("admin:accounts_creditaccount_changelist"), "root", 1),
    ("customers", reverse("admin:accounts_customer_changelist"), "root", 2),  # + the applicant
    ("applications", reverse("admin:risk_application_changelist"), "root", 1),
    ("purchases", reverse("admin:installments_purchase_changelist"), "root", 1),
    ("repayments", reverse("admin:installments_repayment_changelist"), "root", 1),
    ("journal entries", reverse("admin:accounts_journalentry_changelist"), "root", 2),  # purchase, repayment
    ("journal lines", reverse("admin:accounts_journalline_changelist"), "root", 4),
    ("notifications", reverse("admin:accounts_notification_changelist"), "root", None),
    ("audit trail", reverse("admin:accounts_auditevent_changelist"), "root", None),
]


def measure(clients: dict[str, Client]) -> dict[str, tuple[int, int, int]]:
    """(queries, rows listed, rows per page) per page."""
    found = {}
    for label, url, who, _per_customer in PAGES:
        client = clients[who]
        client.get(url)  # warm-up: content types, permissions caches, session
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200, (label, response.status_code)
        cl = response.context["cl"]
        found[label] = (len(ctx.captured_queries), len(cl.result_list), cl.list_per_page)
    return found


def test_list_pages_run_the_same_queries_for_3_and_30_rows():
    clients = {"root": client_for(superuser()), "reviewer": client_for(member("reviewer", "Risk reviewer")),
               "agent": client_for(member("agent", "CS agent"))}
    add_rows(0, 3)
    few = measure(clients)
    add_rows(3, 30)
    many = measure(clients)
    for label, _url, _who, per_customer in PAGES:
        if per_customer is not None:  # the page really lists the rows (else the comparison proves nothing)
            assert few[label][1] == 3 * per_customer, (label, few[label])
            assert many[label][1] == min(30 * per_customer, many[label][2]), (label, many[label])
        else:
            assert many[label][1] > few[label][1] > 0, (label, few[label], many[label])
    assert {label: found[0] for label, found in many.items()} == {label: found[0] for label, found in few.items()}


def test_collections_queue_runs_the_same_queries_for_3_and_30_overdue_accounts():
    """Overdue accounts are made by the nightly close: declined auto-debits past the due date."""
    accounts = [open_account(n, card="tok_insufficient_funds") for n in range(30)]
    for account in accounts[:3]:
        purchase_create(account_id=account.pk, merchant_order_id=f"o-{account.pk}",
                                             amount=Decimal("300.00"), periods=3)
    call_command("close_business_day", "--until", "2026-11-21", stdout=StringIO())
    for account in accounts[3:]:  # due a day later than the first three
        purchase_create(account_id=account.pk, merchant_order_id=f"o-{account.pk}",
                                             amount=Decimal("300.00"), periods=3)
    call_command("close_business_day", "--until", "2026-12-22", stdout=StringIO())
    client = client_for(member("agent", "CS agent"))
    url = reverse("admin:accounts_creditaccount_collections")

    def queries() -> tuple[int, int]:
        client.get(url)
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        return len(ctx.captured_queries), len(response.context["page"].object_list)

    few = queries()
    call_command("close_business_day", "--until", "2026-12-23", stdout=StringIO())
    many = queries()
    assert few[1] == 3 and many[1] == 30
    assert many[0] == few[0]
