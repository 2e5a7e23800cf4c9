"""Issue 18 point 3, "lists that stay fast" (docs/decisions/0036): the back office's lists
search only through an index — an account id, or a whole id, key or reference — refuse a term
they cannot search by with a message (and change nothing), read the keys of a deep page first,
and count an unfiltered large table by PostgreSQL's estimate. Against PostgreSQL; the query
count of every searched, refused and deep page is pinned."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.admin.base import LargeListPaginator
from accounts.models import AuditEvent, JournalEntry, JournalLine
from installments.models import Purchase
from risk.models import Application
from tests.test_list_page_queries import add_rows, client_for, superuser

pytestmark = pytest.mark.django_db

LINES = reverse("admin:accounts_journalline_changelist")
ENTRIES = reverse("admin:accounts_journalentry_changelist")
PURCHASES = reverse("admin:installments_purchase_changelist")
PENALTIES = reverse("admin:installments_penalty_changelist")
ACCOUNTS = reverse("admin:accounts_creditaccount_changelist")
CUSTOMERS = reverse("admin:accounts_customer_changelist")
APPLICATIONS = reverse("admin:risk_application_changelist")
NOTIFICATIONS = reverse("admin:accounts_notification_changelist")
COMPLAINTS = reverse("admin:complaints_complaint_changelist")


@pytest.fixture(autouse=True)
def start(business_date):
    return business_date


@pytest.fixture
def root() -> Client:
    return client_for(superuser())


def get(client: Client, url: str, **params: str):
    client.get(url)  # warm-up: content types, permission caches, the session
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url + ("?" + urlencode(params) if params else ""))
    assert response.status_code == 200, response.status_code
    return response, [q["sql"] for q in ctx.captured_queries]


def listed(response) -> list:
    return list(response.context["cl"].result_list)


def warnings(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def writes(queries: list[str]) -> list[str]:
    """Statements that change a business table (the session's own row is the login's)."""
    return [q for q in queries if q.lstrip().split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}
            and "django_session" not in q]


def test_an_account_id_finds_its_rows_and_a_whole_key_its_entry(root):
    add_rows(0, 3)
    purchase = Purchase.objects.order_by("pk").first()
    entry = JournalEntry.objects.get(idempotency_key__startswith="purchase:", credit_account_id=purchase.account_id)
    _plain, plain_queries = get(root, LINES)
    response, queries = get(root, LINES, q=str(purchase.account_id))
    assert {line.credit_account_id for line in listed(response) if line.credit_account_id} == {purchase.account_id}
    assert len(queries) == len(plain_queries)
    response, queries = get(root, LINES, q=entry.idempotency_key)
    assert {line.entry_id for line in listed(response)} == {entry.pk}
    assert len(queries) == len(plain_queries)
    # the key's unique index first (an indexed equality), never a LIKE over the lines
    assert not any("LIKE" in q for q in queries)
    # a part of a key is not searched as text: the whole key is
    response, _ = get(root, LINES, q=entry.idempotency_key[:-1] + "x")
    assert listed(response) == []
    response, _ = get(root, ENTRIES, q=entry.idempotency_key)
    assert [e.pk for e in listed(response)] == [entry.pk]
    response, _ = get(root, PURCHASES, q=purchase.merchant_order_id)
    assert [p.pk for p in listed(response)] == [purchase.pk]


@pytest.mark.parametrize("url", [ACCOUNTS, CUSTOMERS, APPLICATIONS, NOTIFICATIONS, COMPLAINTS])
def test_a_store_customer_id_is_found_whole_without_a_text_scan(root, url):
    add_rows(0, 3)
    external_id = Application.objects.first().customer.external_id if url == APPLICATIONS else "lp-1"
    _plain, plain_queries = get(root, url)
    response, queries = get(root, url, q=external_id)
    assert len(listed(response)) >= 1
    assert len(queries) == len(plain_queries)
    assert not any("LIKE '%" in q for q in queries)  # no contains-search: a scan of every row
    response, _ = get(root, url, q=external_id[:-1])  # a part of the id finds nothing
    assert listed(response) == []


@pytest.mark.parametrize("term", ["abc", "１２３", "12 3", "x" * 500])
def test_a_term_the_list_cannot_search_by_is_refused_with_a_message_and_changes_nothing(root, term):
    add_rows(0, 2)
    events = AuditEvent.objects.count()
    response, queries = get(root, PENALTIES, q=term)
    assert listed(response) == []
    assert any("Not searched: this list is searched by credit account id" in m for m in warnings(response))
    assert writes(queries) == []
    assert AuditEvent.objects.count() == events
    # refused: neither a count nor a row is read
    assert not any("installments_penalty" in q for q in queries)


@pytest.mark.parametrize("url", [LINES, ENTRIES, PURCHASES, ACCOUNTS, CUSTOMERS, APPLICATIONS, NOTIFICATIONS,
                                 COMPLAINTS, reverse("admin:accounts_auditevent_changelist")])
def test_no_search_answers_a_server_error(root, url):
    add_rows(0, 1)
    for term in ("\x00", "%", "_", "'", "１２３", "9" * 30, "a" * 2000):
        _response, queries = get(root, url, q=term)
        assert writes(queries) == []


def test_a_deep_page_reads_its_keys_first_and_lists_what_the_offset_would(root, monkeypatch):
    add_rows(0, 30)
    monkeypatch.setattr("installments.admin.records.PurchaseAdmin.list_per_page", 4)
    _first, first_queries = get(root, PURCHASES)
    expected = list(Purchase.objects.order_by("-id").values_list("pk", flat=True)[8:12])
    shallow, _ = get(root, PURCHASES, p="3")
    assert [p.pk for p in listed(shallow)] == expected
    monkeypatch.setattr(LargeListPaginator, "DEEP_FROM", 4)
    deep, queries = get(root, PURCHASES, p="3")
    assert [p.pk for p in listed(deep)] == expected
    assert len(queries) == len(first_queries)
    assert any('"installments_purchase"."id" IN (SELECT' in q for q in queries)


def test_an_unfiltered_large_list_is_counted_by_the_estimate(root, monkeypatch):
    add_rows(0, 5)
    monkeypatch.setattr("accounts.admin.ledger.JournalLineAdmin.list_per_page", 5)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_journalline")
    _exact, exact_queries = get(root, LINES)
    monkeypatch.setattr(LargeListPaginator, "ESTIMATE_ABOVE", 0)
    response, queries = get(root, LINES)
    assert response.context["cl"].paginator.estimated
    assert "about" in response.content.decode()
    assert not any('"__count" FROM "accounts_journalline"' in q for q in queries)
    assert len(queries) == len(exact_queries)
    # a page past the estimate is an empty page, not an error
    response, _ = get(root, LINES, p="999")
    assert listed(response) == []
    # filtered: counted exactly
    response, _ = get(root, LINES, book__exact="principal_receivable")
    assert not response.context["cl"].paginator.estimated
    assert response.context["cl"].result_count == JournalLine.objects.filter(book="principal_receivable").count()
