"""The charts page (/admin/analytics/): who opens it, a bad range answered with a message (never
a 500), the SVGs carrying the figures, and a query count that does not grow with the rows."""

from __future__ import annotations

import importlib
import re
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.business_day import business_date_set
from tests.analytics_data import (
    account,
    alert,
    alternative_accepted,
    application,
    at,
    closed,
    complaint,
    installment,
    repayment,
)

pytestmark = pytest.mark.django_db

URL = reverse("analytics")
TODAY = date(2026, 3, 31)
RANGE = {"start": "2026-02-01", "end": "2026-03-31"}


@pytest.fixture(autouse=True)
def _today():
    business_date_set(new_date=TODAY, acting_user=None, reason="test")
    # the grants of config/migrations/0002 (a transactional test elsewhere may have flushed them)
    grants = importlib.import_module("config.migrations.0002_analytics_permission").GRANTS
    for name, labels in grants.items():
        for label in labels:
            app_label, codename = label.split(".")
            Group.objects.get(name=name).permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename))


def client_of(username: str, group: str | None = None, *, superuser: bool = False) -> Client:
    if superuser:
        user = User.objects.create_superuser(username, password="pw")
    else:
        user = User.objects.create_user(username, password="pw", is_staff=True)
        if group:
            user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def history(n: int) -> None:
    """``n`` rows of each kind the charts count, spread over February and March."""
    for k in range(n):
        day = date(2026, 2, 1) + timedelta(days=k % 59)
        acc = account(f"p{n}-{k}", opened=date(2026, 1, 1))
        installment(acc, day - timedelta(days=20))
        application(acc.customer, day, ("approved", "rejected", "pending_retry")[k % 3], code="ID_INVALID")
        rep = repayment(acc, day, f"r{k}", principal="10.00", held="10.00" if k % 2 else "0.00")
        alert(acc, rep)
        complaint(acc.customer, at(day), "fee_dispute", ack_breached=bool(k % 2))
        closed(acc, day, "CUSTOMER_REQUEST")
        alternative_accepted(acc, at(day), "pause")


def test_risk_managers_cs_supervisors_and_operations_open_it_others_are_refused():
    for username, group in (("manager", "Risk manager"), ("supervisor", "CS supervisor"), ("ops", "Operations")):
        assert client_of(username, group).get(URL).status_code == 200, group
    for username, group in (("reviewer", "Risk reviewer"), ("agent", "CS agent"), ("nobody", None)):
        assert client_of(username, group).get(URL).status_code == 403, group
    assert Client().get(URL).status_code == 302  # to the sign-in page


def test_the_dashboard_links_to_it():
    html = client_of("manager", "Risk manager").get(reverse("admin:index")).content.decode()
    assert f'href="{URL}" id="analytics-link"' in html
    html = client_of("agent", "CS agent").get(reverse("admin:index")).content.decode()
    assert 'id="widget-analytics"' not in html


@pytest.mark.parametrize(("query", "message"), [
    ({"start": "2026-02-30"}, "Enter a date as YYYY-MM-DD."),
    ({"start": "2026-03-02", "end": "2026-03-01"}, "The range ends before it starts"),
    ({"start": "2024-01-01", "end": "2026-03-01"}, "Choose a range of at most 366 days"),
    ({"start": "0001-01-01", "end": "9999-12-31"}, "Choose dates between"),
    ({"start": "\x00", "end": "2026-03-01'; --"}, "Enter a date as YYYY-MM-DD."),
])
def test_a_bad_range_is_answered_with_a_message(query, message):
    response = client_of("root", superuser=True).get(URL, query)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="analytics-errors"' in html and message in html
    assert 'class="chart"' not in html


def test_the_charts_carry_the_figures():
    history(3)
    html = client_of("root", superuser=True).get(URL, RANGE).content.decode()
    for chart in ("applications", "application-reasons", "restoration", "roll-rates", "complaints", "closures",
                  "alternatives"):
        assert f'id="chart-{chart}"' in html, chart
    bars = re.findall(r'<rect class="bar" data-series="([^"]+)" data-category="([^"]+)" data-value="([^"]+)"', html)
    assert ("approved", "02-01", "1") in bars and ("rejected", "02-02", "1") in bars
    assert ("held", "02-02", "1") in bars and ("at_once", "02-01", "1") in bars
    assert ("fee_dispute", "02-03", "1") in bars and ("CUSTOMER_REQUEST", "02-01", "1") in bars
    assert ("pause", "02-03", "1") in bars
    markers = re.findall(r'<rect class="marker" data-category="([^"]+)" data-value="(\d+)"', html)
    assert ("02-03", "1") in markers  # the pending_retry application met the provider down
    # the three accounts fell due 20 days before their day (12-14 January): 1-30 days past due
    # at the end of January, 31-60 at the end of February, 61-90 at the end of March
    assert ("1-30", "2026-02", "100") in bars and ("31-60", "2026-03", "100") in bars


def _queries(client: Client) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(URL, RANGE).status_code == 200
    return [q["sql"] for q in captured.captured_queries]


# session, user and staff profile (3), the business date (1), applications (1), repayments and alerts (2),
# roll rates (3), complaints (1), closures and alternatives (2); a superuser needs no
# permission query; the header's unread staff notifications (1)
PAGE_QUERIES = 14


def test_the_query_count_does_not_grow_with_the_rows():
    client = client_of("root", superuser=True)
    client.get(URL)  # the first request of a session also saves it
    history(2)
    few = _queries(client)
    history(12)
    many = _queries(client)
    assert len(few) == len(many) == PAGE_QUERIES, "\n".join(many)
