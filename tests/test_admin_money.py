"""The money back office end to end on real PostgreSQL, part one: the credit account page and
the ledger lists (part two, ``test_admin_money_queues``: the collections queue, the nightly
runs, restoration holds, the read-only money lists). Data is made through the services and ``close_business_day``; pages are read
with the test client as superusers or members of the staff groups."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import transaction
from django.db.models import Q
from django.test import Client
from django.urls import reverse

from accounts.lifecycle import credit_line
from accounts.models import CreditAccount, JournalEntry, JournalLine
from conftest import upsert_customer
from installments.models import (
    Installment,
    Purchase,
    Repayment,
    RestorationHold,
)
from installments.services.purchases import purchase_create
from installments.services.repayments import repayment_create
from risk.models import ScoringPolicy
from risk.services.policies import policy_activate, policy_draft_create, policy_draft_update

pytestmark = pytest.mark.django_db

COLLECTIONS = reverse("admin:accounts_creditaccount_collections")


@pytest.fixture(autouse=True)
def start(business_date):
    return business_date


# --- data through the services -----------------------------------------------------------------


def open_account(card: str = "tok_ok", n: int = 1, limit: str = "1000.00") -> CreditAccount:
    customer = upsert_customer(external_id=f"adm-{n}", name="Wang Wu", id_number="11010519491231002X",
                               phone=f"1390000{n:04d}", store_status="normal", store_since=date(2020, 1, 1),
                               orders_12m=10, spend_12m=Decimal("9000.00"), return_rate=Decimal("0.01"))
    with transaction.atomic():
        return credit_line.open_account(customer=customer, credit_limit=Decimal(limit), card_token=card,
                                   policy_version_id=ScoringPolicy.objects.get(status="active").pk,
                                   reason_code="ACCOUNT_OPENED", acting_user=None)


def buy(account: CreditAccount, amount: str = "300.00", periods: int = 3, order: str = "o-1") -> Purchase:
    purchase, _ = purchase_create(account_id=account.pk, merchant_order_id=order, amount=Decimal(amount),
                                           periods=periods)
    return purchase


def repay(account: CreditAccount, amount: str, reference: str = "bank-1") -> Repayment:
    return repayment_create(account_id=account.pk, reference=reference, amount=Decimal(amount)).repayment


def close_until(day: date) -> None:
    call_command("close_business_day", "--until", day.isoformat(), stdout=StringIO())


def hold_new_accounts(manager: User) -> None:
    """Policy v2: repayments of accounts younger than 30 days are held for 24 hours."""
    draft = policy_draft_create(acting_user=manager)
    params = dict(draft.params, restoration_hold_rules=[
        {"code": "NEW_ACCOUNT", "max_account_age_days": 30, "hold_hours": 24}])
    policy_draft_update(policy_id=draft.pk, params=params, notes="", acting_user=manager)
    second = staff(f"{manager.username}-second", "Risk manager")  # four eyes: not the draft's author
    policy_activate(policy_id=draft.pk, acting_user=second, reason_text="hold new accounts")


def staff(username: str, group: str | None = None, *, superuser: bool = False) -> User:
    user = User.objects.create_user(username=username, password="pw", is_staff=True, is_superuser=superuser)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def account_url(account: CreditAccount) -> str:
    return reverse("admin:accounts_creditaccount_change", args=[account.pk])


def readonly_value(html: str, field: str) -> str:
    """The text of a read-only field on an admin change page."""
    match = re.search(rf'class="form-row field-{field}".*?<div class="readonly">(.*?)</div>', html, re.S)
    assert match, field
    return match.group(1).strip()


def account_state(account: CreditAccount):
    return (CreditAccount.objects.values().get(pk=account.pk), JournalLine.objects.count(),
            list(RestorationHold.objects.values().order_by("id")))


# --- the credit account page ---------------------------------------------------------------------


def test_account_page_shows_balances_schedule_repayments_and_ledger(agent):
    account = open_account()
    purchase = buy(account)
    repay(account, "50.00")
    response = client_for(agent).get(account_url(account))
    assert response.status_code == 200
    html = response.content.decode()
    assert readonly_value(html, "credit_limit") == "1000.00"
    assert readonly_value(html, "available_limit") == "750.00"
    assert readonly_value(html, "principal_outstanding") == "250.00"
    assert readonly_value(html, "outstanding_total") == "250.00"
    assert readonly_value(html, "held_amount") == "0.00"
    assert readonly_value(html, "bucket") == "current"
    assert readonly_value(html, "billing_day") == "20"
    assert readonly_value(html, "repayment_card_token") == "tok_ok"

    section = response.context["account_sections"][0]["section"]
    [plan] = section["plans"]
    assert plan["plan"].purchase_id == purchase.pk
    assert [(i["installment"].seq, i["installment"].due_date, i["installment"].principal, i["installment"].fee,
             i["installment"].principal_paid, i["status"]) for i in plan["installments"]] == [
        (1, date(2026, 12, 20), Decimal("100.00"), Decimal("1.80"), Decimal("50.00"), "open"),
        (2, date(2027, 1, 20), Decimal("100.00"), Decimal("1.80"), Decimal("0.00"), "open"),
        (3, date(2027, 2, 20), Decimal("100.00"), Decimal("1.80"), Decimal("0.00"), "open"),
    ]
    assert "Purchase o-1" in html and "2027-02-20" in html
    [row] = section["repayments"]
    assert (row["repayment"].reference, row["repayment"].principal_paid, row["repayment"].limit_restored) == \
        ("bank-1", Decimal("50.00"), Decimal("50.00"))
    assert "<code>bank-1</code>" in html

    lines = [(line.entry.kind, line.entry.idempotency_key, line.book, line.amount)
             for line in response.context["ledger_lines"]]
    assert lines == [
        ("repayment", f"repayment:{row['repayment'].pk}", "principal_receivable", Decimal("-50.00")),
        ("purchase", f"purchase:{purchase.pk}", "principal_receivable", Decimal("300.00")),
    ]
    assert f"<code>purchase:{purchase.pk}</code>" in html
    assert f"credit_account__id__exact={account.pk}" in html  # link to all of the account's lines
    assert "ACCOUNT_OPENED" in html  # status and limit history


def test_account_page_shows_overdue_installments_attempts_and_penalties(agent):
    account = open_account("tok_insufficient_funds")
    buy(account)
    close_until(date(2026, 12, 30))
    response = client_for(agent).get(account_url(account))
    html = response.content.decode()
    assert readonly_value(html, "days_past_due") == "9"
    assert readonly_value(html, "bucket") == "1-30"
    assert readonly_value(html, "status") == "suspended"
    section = response.context["account_sections"][0]["section"]
    assert [i["status"] for i in section["plans"][0]["installments"]] == ["overdue", "open", "open"]
    assert [(a.business_date, a.status, a.decline_code, a.retry_on) for a in section["attempts"]] == [
        (date(2026, 12, 27), "declined", "insufficient_funds", date(2027, 1, 3)),  # every 7 days after the ladder
        (date(2026, 12, 23), "declined", "insufficient_funds", date(2026, 12, 27)),
        (date(2026, 12, 21), "declined", "insufficient_funds", date(2026, 12, 23)),
        (date(2026, 12, 20), "declined", "insufficient_funds", date(2026, 12, 21)),
    ]
    assert [(p.business_date, p.amount) for p in section["penalties"]] == [
        (date(2026, 12, d), Decimal("0.05")) for d in range(29, 23, -1)]
    assert [s.statement_date for s in section["statements"]] == [date(2026, 12, 20), date(2026, 11, 20)]
    assert 'class="status-overdue">overdue<' in html


def test_money_fields_cannot_be_edited_by_anyone(manager):
    account = open_account()
    buy(account)
    before = account_state(account)
    root = staff("root", superuser=True)
    for user in (root, manager):
        client = client_for(user)
        page = client.get(account_url(account))
        assert page.status_code == 200
        assert page.context["adminform"].form.fields == {}
        response = client.post(account_url(account), {"credit_limit": "90000.00", "available_limit": "90000.00",
                                                      "principal_outstanding": "0.00", "status": "active"})
        assert response.status_code == 403
        assert client.get(reverse("admin:accounts_creditaccount_add")).status_code == 403
        assert client.post(reverse("admin:accounts_creditaccount_delete", args=[account.pk]),
                           {"post": "yes"}).status_code == 403
    assert account_state(account) == before


def _account_page_queries(client: Client, account: CreditAccount, django_assert_num_queries) -> None:
    with django_assert_num_queries(ACCOUNT_PAGE_QUERIES):
        response = client.get(account_url(account))
    assert response.status_code == 200


def test_account_page_query_count_does_not_grow_with_plans(agent, django_assert_num_queries):
    account = open_account(limit="5000.00")
    buy(account, order="o-0")
    repay(account, "10.00", "r-0")
    client = client_for(agent)
    client.get(account_url(account))  # warm up (content types, session)
    _account_page_queries(client, account, django_assert_num_queries)
    for n in range(1, 10):
        buy(account, amount="100.00", periods=(1, 3, 6, 12)[n % 4], order=f"o-{n}")
        repay(account, "10.00", f"r-{n}")
    assert Purchase.objects.filter(account=account).count() == 10
    assert Installment.objects.filter(account=account).count() > 40
    _account_page_queries(client, account, django_assert_num_queries)


# session, user, staff profile, account, permissions (user, groups), the status and limit change
# inlines, business date, ledger lines, plans, installments, repayments, holds, statements,
# attempts, penalties, payouts, the collections desk's contacts and promises to pay; the header's
# unread staff notifications
ACCOUNT_PAGE_QUERIES = 21


# --- the ledger ------------------------------------------------------------------------------------


def test_ledger_rows_are_read_only_even_for_superusers():
    account = open_account()
    buy(account)
    line = JournalLine.objects.filter(credit_account=account).get()
    entry = line.entry
    before = (list(JournalLine.objects.values().order_by("id")), list(JournalEntry.objects.values().order_by("id")))
    client = client_for(staff("root", superuser=True))
    line_url = reverse("admin:accounts_journalline_change", args=[line.pk])
    assert client.get(line_url).status_code == 200
    assert client.post(line_url, {"amount": "1.00", "book": "fee_income"}).status_code == 403
    assert client.get(reverse("admin:accounts_journalline_delete", args=[line.pk])).status_code == 403
    assert client.post(reverse("admin:accounts_journalline_delete", args=[line.pk]), {"post": "yes"}).status_code \
        == 403
    assert client.get(reverse("admin:accounts_journalline_add")).status_code == 403
    entry_url = reverse("admin:accounts_journalentry_change", args=[entry.pk])
    page = client.get(entry_url)
    assert page.status_code == 200 and "merchant settlement" in page.content.decode()
    assert client.post(entry_url, {"kind": "x"}).status_code == 403
    assert client.post(reverse("admin:accounts_journalentry_delete", args=[entry.pk]), {"post": "yes"}).status_code \
        == 403
    assert client.get(reverse("admin:accounts_journalentry_add")).status_code == 403
    assert (list(JournalLine.objects.values().order_by("id")),
            list(JournalEntry.objects.values().order_by("id"))) == before


def test_ledger_lists_filter_and_search(agent):
    first = open_account(n=1)
    second = open_account(n=2)
    purchase = buy(first)
    buy(second, order="o-2")
    client = client_for(agent)
    lines_url = reverse("admin:accounts_journalline_changelist")

    def rows(url: str, query: str) -> list[int]:
        response = client.get(url + query)
        assert response.status_code == 200
        return sorted(obj.pk for obj in response.context["cl"].result_list)

    first_lines = sorted(JournalLine.objects.filter(credit_account=first).values_list("id", flat=True))
    assert rows(lines_url, f"?credit_account__id__exact={first.pk}") == first_lines
    # the account's lines, and lines whose entry key contains the digits
    assert rows(lines_url, f"?q={first.pk}") == sorted(JournalLine.objects.filter(
        Q(credit_account=first) | Q(entry__idempotency_key__icontains=str(first.pk))).values_list("id", flat=True))
    assert set(first_lines) <= set(rows(lines_url, f"?q={first.pk}"))
    assert rows(lines_url, f"?q=purchase:{purchase.pk}") == sorted(
        JournalLine.objects.filter(entry__idempotency_key=f"purchase:{purchase.pk}").values_list("id", flat=True))
    assert rows(lines_url, "?book__exact=merchant_settlement") == sorted(
        JournalLine.objects.filter(book="merchant_settlement").values_list("id", flat=True))
    assert rows(lines_url, "?entry__kind=purchase") == sorted(JournalLine.objects.values_list("id", flat=True))
    assert rows(lines_url, "?business_date__gte=2026-11-21") == []
    entries_url = reverse("admin:accounts_journalentry_changelist")
    assert rows(entries_url, f"?q={second.pk}") == sorted(JournalEntry.objects.filter(
        Q(credit_account=second) | Q(idempotency_key__icontains=str(second.pk))).values_list("id", flat=True))
    assert rows(entries_url, "?kind=purchase") == sorted(JournalEntry.objects.values_list("id", flat=True))
