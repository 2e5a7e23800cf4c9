"""Personal data in the back office and the API (docs/rules.md §11, docs/decisions/0006): the ID
number is shown masked (first 3 + last 4) and the phone masked on every list, search result,
page, API answer and notification log line; admin search finds customers, accounts,
applications and complaints by phone, store customer id and full ID number (through the
keyed hash: an ID number is never matched in clear text, a partial one finds nothing)."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from accounts.models import CreditAccount, Notification
from accounts.notifications import deliver
from complaints.tests.helpers import START, at, client_for, ensure_grants, file, staff
from conftest import applicant_payload
from risk.models import Application
from risk.rules import id_check_char
from risk.services.applications import ApplicantData, application_submit

pytestmark = pytest.mark.django_db

ID_NUMBER = "11010519491231002X"
ID_MASKED = "110***********002X"
PHONE = "13800001234"
PHONE_MASKED = "138****1234"


@pytest.fixture(autouse=True)
def _world(business_date):
    ensure_grants()
    with time_machine.travel(at(START), tick=False):
        yield


def applicant(external_id: str, id_number: str, phone: str) -> ApplicantData:
    return ApplicantData(external_id=external_id, name="Han Meimei", id_number=id_number, phone=phone,
                         store_status="normal", store_since=date(2021, 3, 1), orders_12m=42,
                         spend_12m=Decimal("26800.00"), return_rate=Decimal("0.03"))


@pytest.fixture
def two_customers(db) -> tuple[CreditAccount, CreditAccount]:
    """Two approved customers: ours and someone else (another ID number and phone)."""
    other_id = "11010519800101001" + id_check_char("11010519800101001")
    accounts = []
    for external_id, id_number, phone in (("u-77", ID_NUMBER, PHONE), ("u-88", other_id, "13900009999")):
        application = application_submit(kind="activation", card_token="tok_ok",
                                                       applicant=applicant(external_id, id_number, phone))
        assert application.status == "approved"
        accounts.append(CreditAccount.objects.get(pk=application.account_id))
    return accounts[0], accounts[1]


def changelist(client, url_name: str, query: str) -> str:
    response = client.get(reverse(url_name), {"q": query})
    assert response.status_code == 200
    return response.content.decode()


def found(client, url_name: str, query: str) -> set[int]:
    response = client.get(reverse(url_name), {"q": query})
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


SEARCHES = [
    ("admin:accounts_customer_changelist", lambda a: a.customer_id),
    ("admin:accounts_creditaccount_changelist", lambda a: a.pk),
    ("admin:risk_application_changelist", lambda a: Application.objects.get(account=a).pk),
    ("admin:complaints_complaint_changelist", lambda a: a.complaints.get().pk),
]


@pytest.mark.parametrize(("url_name", "key"), SEARCHES, ids=[s[0].split(":")[1] for s in SEARCHES])
def test_search_by_phone_store_id_and_full_id_number(two_customers, url_name, key):
    ours, theirs = two_customers
    for account in (ours, theirs):
        file(account, category="billing_dispute")
    client = client_for(staff("cs-super", "CS supervisor"))
    expected = {key(ours)}

    assert found(client, url_name, PHONE) == expected
    assert found(client, url_name, "u-77") == expected
    assert found(client, url_name, ID_NUMBER) == expected
    assert found(client, url_name, ID_NUMBER.lower()) == expected  # the check letter in either case
    assert found(client, url_name, ID_NUMBER[:10]) == set()  # never a text match on the ID number
    assert found(client, url_name, ID_NUMBER[:-1] + "0") == set()
    for term in (ID_NUMBER, PHONE):  # the term typed is echoed in the search box and links only
        page = changelist(client, url_name, term).replace(f'value="{term}"', "").replace(f"q={term}", "").replace(f"q%3D{term}", "")
        assert ID_NUMBER not in page and PHONE not in page


def test_lists_and_pages_show_the_id_number_and_phone_masked(two_customers):
    ours, _theirs = two_customers
    complaint = file(ours, category="billing_dispute")
    application = Application.objects.get(account=ours)
    client = client_for(staff("cs-super", "CS supervisor"))
    pages = {
        "customer list": reverse("admin:accounts_customer_changelist"),
        "customer page": reverse("admin:accounts_customer_change", args=[ours.customer_id]),
        "application list": reverse("admin:risk_application_changelist"),
        "application page": reverse("admin:risk_application_change", args=[application.pk]),
        "complaint page": reverse("admin:complaints_complaint_change", args=[complaint.pk]),
        "notification list": reverse("admin:accounts_notification_changelist"),
        "account page": reverse("admin:accounts_creditaccount_change", args=[ours.pk]),
    }
    for name, url in pages.items():
        html = client.get(url).content.decode()
        assert ID_NUMBER not in html, name
        assert PHONE not in html, name
    for name in ("customer list", "customer page", "application page", "complaint page"):
        html = client.get(pages[name]).content.decode()
        assert ID_MASKED in html and PHONE_MASKED in html, name
    assert PHONE_MASKED in client.get(pages["notification list"]).content.decode()


def test_the_api_answers_with_the_id_number_masked(api):
    """docs/api.md's contract: the ID number masked; the storefront's own phone number is echoed as sent."""
    response = api.post("/api/v1/applications", applicant_payload(phone=PHONE), format="json")
    assert response.status_code == 201, response.content
    customer = response.json()["customer"]
    assert (customer["id_number"], customer["phone"]) == (ID_MASKED, PHONE)
    again = api.get(f"/api/v1/applications/{response.json()['id']}").json()["customer"]
    assert (again["id_number"], again["phone"]) == (ID_MASKED, PHONE)
    assert ID_NUMBER not in response.content.decode()


def test_the_notification_log_shows_the_phone_masked(two_customers, caplog):
    ours, _theirs = two_customers
    notification = Notification.objects.filter(customer=ours.customer).first()
    with caplog.at_level(logging.INFO, logger="tally.notifications"):
        assert deliver(notification.pk) == "sent"
    lines = [r.getMessage() for r in caplog.records if r.name == "tally.notifications"]
    assert len(lines) == 1
    assert PHONE_MASKED in lines[0]
    assert PHONE not in lines[0] and ID_NUMBER not in lines[0]
    notification.refresh_from_db()
    assert ID_NUMBER not in notification.rendered and PHONE not in notification.rendered
