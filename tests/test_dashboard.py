"""The dashboard on the admin index, on real PostgreSQL: a known dataset made through the
storefront API, the complaint services and the nightly close gives known figures, each a
link to the filtered list; each role sees the widgets its permissions allow; the query
count does not grow with the data."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.business_day import business_date_get, business_date_set
from accounts.models import CreditAccount
from complaints.services.complaints import complaint_assign, complaint_file, complaint_start
from complaints.tests.helpers import START, at, ensure_grants, open_account, staff
from config.cob.models import CobFailure, CobRun
from config.cob.runner import close_business_day
from conftest import applicant_payload, make_id_number, replace_step
from risk.models import ReviewCase

pytestmark = [pytest.mark.django_db]

INDEX = reverse("admin:index")
BORDERLINE = {"store_since": "2020-01-01", "orders_12m": 5, "spend_12m": "3000.00", "return_rate": "0.10"}


@pytest.fixture(autouse=True)
def _world(business_date):
    ensure_grants()
    with time_machine.travel(at(START), tick=False) as traveller:
        yield traveller


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def figure(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert match, element_id
    return match.group(1).strip()


def link_of(html: str, element_id: str) -> str:
    match = re.search(rf'<a href="([^"]+)"[^>]*id="{element_id}"', html)
    assert match, element_id
    return match.group(1).replace("&amp;", "&")


def in_review(api, n: int) -> None:
    response = api.post("/api/v1/applications", applicant_payload(
        external_id=f"u-rev-{n}", phone=f"1380000{n:04d}", id_number=make_id_number(f"110105198001011{n:02d}"),
        **BORDERLINE), format="json")
    assert response.json()["status"] == "in_review", response.json()


def file(account: CreditAccount, when) -> int:
    with time_machine.travel(when, tick=False):
        return complaint_file(
            customer_external_id=account.customer.external_id, category="other", channel="app",
            description="A question.", account_id=account.pk).pk


def known_dataset(api, monkeypatch, traveller) -> dict:
    accounts = [open_account(n) for n in range(1, 8)]
    # one nightly close in which two accounts fail
    def broken_chunk(account_ids, business_date):
        raise RuntimeError("ledger unreachable")

    # the chunk fails, then each account of it (a chunk of one) fails and is recorded
    replace_step(monkeypatch, "classify_delinquency", select=lambda day: [accounts[0].pk, accounts[1].pk],
                 run=broken_chunk)
    close_business_day()
    monkeypatch.undo()
    # accounts per bucket: current 3 (one more is closed), 1-30: 1, 31-60: 1, >180: 1
    for account, days in zip(accounts, (0, 0, 0, 5, 45, 200), strict=False):
        CreditAccount.objects.filter(pk=account.pk).update(days_past_due=days)
    CreditAccount.objects.filter(pk=accounts[6].pk).update(status="closed", closed_on=START)
    # two cases in review from the API
    in_review(api, 1)
    in_review(api, 2)
    # complaints: A received at 10:00 (acknowledge by tomorrow 10:00), D at 16:00, B and C the
    # next morning (C acknowledged); seen the next day at 12:00
    breached = file(accounts[0], at(START, 10))
    due_soon = file(accounts[1], at(START, 16))
    file(accounts[2], at(START + timedelta(days=1), 6))
    acknowledged = file(accounts[3], at(START + timedelta(days=1), 6))
    agent = staff("agent-x", "CS agent")
    with time_machine.travel(at(START + timedelta(days=1), 7), tick=False):
        complaint_assign(complaint_id=acknowledged, assignee=agent, acting_user=agent)
        complaint_start(complaint_id=acknowledged, acting_user=agent)
    traveller.move_to(at(START + timedelta(days=1), 12))
    return {"breached": breached, "due_soon": due_soon}


def test_the_figures_of_a_known_dataset_each_linking_to_its_list(api, monkeypatch, _world):
    made = known_dataset(api, monkeypatch, _world)
    admin = User.objects.create_superuser("root", password="pw")
    client = logged_in(admin)
    html = client.get(INDEX).content.decode()

    # review queue: two cases, the oldest submitted 26 hours ago
    assert figure(html, "review-queue-size") == "2"
    assert figure(html, "review-oldest-age") == "1 d 2 h"
    overdue = ReviewCase.objects.filter(due_at__lt=at(START + timedelta(days=1), 12)).count()
    assert figure(html, "review-overdue") == str(overdue)
    queue = client.get(link_of(html, "review-queue-size"))
    assert queue.status_code == 200 and queue.context["cl"].result_count == 2

    # complaints: one past its acknowledgement deadline, one due within six hours, four not closed
    assert figure(html, "complaints-breached") == "1"
    assert figure(html, "complaints-due-soon") == "1"
    assert figure(html, "complaints-not-closed") == "4"
    assert [c.pk for c in client.get(link_of(html, "complaints-breached")).context["cl"].result_list] == [
        made["breached"]]
    assert [c.pk for c in client.get(link_of(html, "complaints-due-soon")).context["cl"].result_list] == [
        made["due_soon"]]

    # accounts per bucket, as bars of the chart linking to the collections queue
    buckets = [figure(html, f"bucket-{n}") for n in range(6)]
    assert buckets == ["3", "1", "1", "0", "0", "1"]
    chart = html.split('id="widget-delinquency"')[1].split("</svg>")[0]
    assert chart.count("<rect") == 6
    widths = [int(w) for w in re.findall(r'<rect x="\d+" y="\d+" width="(\d+)"', chart)]
    assert widths[0] > widths[1] == widths[2] == widths[5] > 0 and widths[3] == widths[4] == 0
    collections = client.get("/admin/accounts/creditaccount/collections/?bucket=%3E180")
    assert collections.status_code == 200 and len(collections.context["page"].object_list) == 1

    # the last nightly close: the business date it closed, its two failures, nothing behind
    run = CobRun.objects.get()
    assert figure(html, "last-close-date") == run.business_date.isoformat() == START.isoformat()
    assert figure(html, "last-close-failures") == "2"
    assert figure(html, "last-close-status") == "completed"
    assert 'id="close-days-behind"' not in html
    failures_page = client.get(link_of(html, "last-close-failures").split("#")[0])
    assert failures_page.status_code == 200 and "ledger unreachable" in failures_page.content.decode()
    assert CobFailure.objects.filter(step_run__run=run).count() == 2

    # three business days later without a close, the dashboard says so
    business_date_set(new_date=business_date_get() + timedelta(days=2), acting_user=None, reason="test")
    html = client.get(INDEX).content.decode()
    assert figure(html, "close-days-behind") == "2 days not closed"


def test_each_role_sees_only_the_widgets_its_permissions_allow():
    seen = {}
    for username, group in (("reviewer", "Risk reviewer"), ("manager", "Risk manager"), ("agent", "CS agent"),
                            ("supervisor", "CS supervisor"), ("ops", "Operations")):
        html = logged_in(staff(username, group)).get(INDEX).content.decode()
        seen[group] = set(re.findall(r'class="module dashboard-widget" id="widget-([\w-]+)"', html))
    assert seen == {
        "Risk reviewer": {"review-queue", "delinquency"},
        "Risk manager": {"review-queue", "manager-inbox", "delinquency", "last-close", "analytics"},
        "CS agent": {"review-queue", "complaints", "delinquency"},
        "CS supervisor": {"review-queue", "complaints", "delinquency", "analytics", "waivers"},
        "Operations": {"last-close", "analytics"},
    }


def _index_queries(client: Client) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(INDEX).status_code == 200
    return [q["sql"] for q in captured.captured_queries]


# session, user, staff profile; review queue (1), complaints (1), buckets (1), last close, its
# open failures and the business date (3); Django's "recent actions" (1); the superuser needs no
# permission queries; the header's unread staff notifications (1); the manager's inbox (1);
# the waivers awaiting a supervisor (1)
INDEX_QUERIES = 13


def test_query_count_does_not_grow_with_the_data(api, monkeypatch, _world):
    root = User.objects.create_superuser("root", password="pw")
    client = logged_in(root)
    client.get(INDEX)
    empty = _index_queries(client)
    known_dataset(api, monkeypatch, _world)
    for n in range(8):
        open_account(20 + n)
        in_review(api, 10 + n)
    client = logged_in(root)  # the clock moved a day on: a fresh session
    client.get(INDEX)
    many = _index_queries(client)
    assert len(many) == len(empty) == INDEX_QUERIES, "\n".join(many)
