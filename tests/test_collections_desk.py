"""The collections desk (decision 0034) on real PostgreSQL, through real closes: collectors are
assigned accounts in collections, log contacts and record promises to pay; the close's
check_promises step keeps a promise the repayments since it reach, breaks one whose date has
passed short of it and tells the collector; the desk filters and exports exactly its rows;
refusals change nothing; the desk's queries do not grow with its rows."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.errors import BusinessRuleRefused, Conflict, PermissionRefused, ValidationFailed
from accounts.exports import BYTE_ORDER_MARK
from accounts.models import AuditEvent, CreditAccount, StaffNotification
from installments.models import CollectionAssignment, CollectionContact, PromiseToPay
from installments.services.collections import (
    collection_assign,
    collection_contact_log,
    promise_to_pay_record,
)
from installments.services.repayments import repayment_create
from tests.credit_lines import assert_ledger_ok, buy, close_until, open_account

pytestmark = pytest.mark.django_db

DESK = reverse("admin:accounts_creditaccount_collections")
EXPORT = reverse("admin:accounts_creditaccount_collections_export")


def collector(name: str = "collector") -> User:
    user = User.objects.create_user(username=name, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Collector"))
    return user


def overdue(n: int, *, close_to: date = date(2026, 12, 22)) -> list[CreditAccount]:
    """``n`` accounts whose auto-debit is declined past the due date (2026-12-20), closed to ``close_to``."""
    accounts = [open_account("tok_insufficient_funds", n=i) for i in range(n)]
    for account in accounts:
        buy(account, order=f"o-{account.pk}")
    close_until(close_to)
    return [CreditAccount.objects.get(pk=a.pk) for a in accounts]


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def start(business_date):
    return business_date


def test_a_promise_met_by_a_repayment_is_kept_and_one_short_at_its_date_is_broken_and_told(manager):
    kept_account, broken_account = overdue(2)
    ann = collector("ann")
    collection_assign(account_ids=[kept_account.pk, broken_account.pk], collector_id=ann.pk, acting_user=manager)
    contact = collection_contact_log(account_id=broken_account.pk, channel="phone", outcome="no_answer",
                                     note="rang twice", acting_user=ann)
    kept = promise_to_pay_record(account_id=kept_account.pk, amount="100.00", promised_for=date(2026, 12, 25),
                                 channel="phone", note="pays on Thursday", acting_user=ann)
    broken = promise_to_pay_record(account_id=broken_account.pk, amount="100.00", promised_for=date(2026, 12, 24),
                                   channel="sms", acting_user=ann)
    repayment_create(account_id=broken_account.pk, reference="part", amount=Decimal("40.00"))  # short of 100
    repayment_create(account_id=kept_account.pk, reference="a", amount=Decimal("60.00"))
    close_until(date(2026, 12, 24))  # the close of 12-23: nothing due yet, 60 of 100 paid
    assert set(PromiseToPay.objects.values_list("status", flat=True)) == {"open"}
    repayment_create(account_id=kept_account.pk, reference="b", amount=Decimal("40.00"))
    close_until(date(2026, 12, 25))  # the close of 12-24: kept reaches 100, broken's date is over at 40
    kept.refresh_from_db()
    broken.refresh_from_db()
    assert (kept.status, kept.paid, kept.settled_on) == ("kept", Decimal("100.00"), date(2026, 12, 24))
    assert (broken.status, broken.paid, broken.settled_on) == ("broken", Decimal("40.00"), date(2026, 12, 24))
    assert contact.outcome == "no_answer" and broken.contact.outcome == "promised"
    notes = list(StaffNotification.objects.filter(recipient=ann, kind="collections.promise_broken")
                 .values_list("message", flat=True))
    assert notes == [f"Promises to pay broken: #{broken_account.pk} 40.00/100.00 (2026-12-24)."]
    assert list(AuditEvent.objects.filter(action__startswith="collections.promise_").order_by("id")
                .values_list("action", "object_id", "actor_label")) == [
        ("collections.promise_recorded", str(kept_account.pk), "ann"),
        ("collections.promise_recorded", str(broken_account.pk), "ann"),
        ("collections.promise_kept", str(kept_account.pk), "system"),
        ("collections.promise_broken", str(broken_account.pk), "system")]
    close_until(date(2026, 12, 26))  # settled promises are never looked at again
    assert StaffNotification.objects.filter(kind="collections.promise_broken").count() == 1
    assert_ledger_ok()


def test_repayments_booked_before_the_promise_do_not_count(manager):
    (account,) = overdue(1)
    ann = collector("ann")
    repayment_create(account_id=account.pk, reference="before", amount=Decimal("100.00"))
    promise = promise_to_pay_record(account_id=account.pk, amount="50.00", promised_for=date(2026, 12, 22),
                                    channel="phone", acting_user=ann)
    close_until(date(2026, 12, 23))
    promise.refresh_from_db()
    assert (promise.status, promise.paid) == ("broken", Decimal("0.00"))


def test_refusals_change_nothing(manager, agent):
    account, other = overdue(2)
    ann = collector("ann")
    current = open_account("tok_ok", n=99)  # nothing overdue
    before = (AuditEvent.objects.count(), CollectionContact.objects.count(), PromiseToPay.objects.count(),
              CollectionAssignment.objects.count())
    with pytest.raises(PermissionRefused):
        collection_assign(account_ids=[account.pk], collector_id=ann.pk, acting_user=ann)  # a collector does not assign
    with pytest.raises(ValidationFailed):
        collection_assign(account_ids=[account.pk], collector_id=agent.pk, acting_user=manager)  # not a collector
    with pytest.raises(BusinessRuleRefused):
        collection_assign(account_ids=[account.pk, current.pk], collector_id=ann.pk, acting_user=manager)
    with pytest.raises(PermissionRefused):
        collection_contact_log(account_id=account.pk, channel="phone", outcome="reached", acting_user=agent)
    with pytest.raises(ValidationFailed):
        collection_contact_log(account_id=account.pk, channel="pigeon", outcome="reached", acting_user=ann)
    with pytest.raises(BusinessRuleRefused):
        collection_contact_log(account_id=current.pk, channel="phone", outcome="reached", acting_user=ann)
    for amount, day in [("0", date(2026, 12, 24)), ("abc", date(2026, 12, 24)), ("1.001", date(2026, 12, 24)),
                        ("100.00", date(2026, 12, 21)), ("100.00", date(2027, 2, 1)), ("99999.00", date(2026, 12, 24))]:
        with pytest.raises(ValidationFailed):
            promise_to_pay_record(account_id=account.pk, amount=amount, promised_for=day, channel="phone",
                                  acting_user=ann)
    after = (AuditEvent.objects.count(), CollectionContact.objects.count(), PromiseToPay.objects.count(),
             CollectionAssignment.objects.count())
    assert after == before
    promise_to_pay_record(account_id=other.pk, amount="10.00", promised_for=date(2026, 12, 24), channel="phone",
                          acting_user=ann)
    with pytest.raises(Conflict):
        promise_to_pay_record(account_id=other.pk, amount="20.00", promised_for=date(2026, 12, 24), channel="phone",
                              acting_user=ann)
    assert PromiseToPay.objects.filter(account=other).count() == 1


def test_the_desk_filters_mine_unassigned_and_broken_promises_assigns_and_exports_them_masked(manager):
    accounts = overdue(3)
    ann, bob = collector("ann"), collector("bob")
    client = logged_in(manager)
    response = client.post(reverse("admin:accounts_creditaccount_collections_assign"),
                           {"account": [str(accounts[0].pk), str(accounts[1].pk)], "collector": str(ann.pk),
                            "back": f"{DESK}?bucket=1-30"})
    assert response.status_code == 302 and response["Location"] == f"{DESK}?bucket=1-30"
    assert set(CollectionAssignment.objects.values_list("account_id", "collector__username")) == {
        (accounts[0].pk, "ann"), (accounts[1].pk, "ann")}
    assert AuditEvent.objects.filter(action="collections.assigned", actor=manager).count() == 2
    assert StaffNotification.objects.filter(recipient=ann, kind="collections.assigned").count() == 1
    # bad input: a message, nothing changed
    for bad in [{"account": ["x"], "collector": str(ann.pk)}, {"account": [str(accounts[2].pk)], "collector": "zz"},
                {"account": [str(accounts[2].pk)], "collector": str(manager.pk + 1000)}]:
        assert client.post(reverse("admin:accounts_creditaccount_collections_assign"), bad).status_code == 302
    assert CollectionAssignment.objects.count() == 2
    promise_to_pay_record(account_id=accounts[1].pk, amount="50.00",
                          promised_for=date(2026, 12, 22), channel="phone", acting_user=ann)
    close_until(date(2026, 12, 23))

    def shown(user: User, **params) -> set[int]:
        response = logged_in(user).get(DESK, params)
        assert response.status_code == 200
        return {a.pk for a in response.context["page"].object_list}

    assert shown(ann, mine="1") == {accounts[0].pk, accounts[1].pk}
    assert shown(bob, mine="1") == set()
    assert shown(manager, unassigned="1") == {accounts[2].pk}
    assert shown(manager, promise="broken") == {accounts[1].pk}
    assert shown(manager, collector=str(ann.pk), promise="broken") == {accounts[1].pk}
    assert shown(manager, collector="not-a-number", bucket="nonsense", promise="nonsense", p="x") == {
        a.pk for a in accounts}  # bad filters are ignored, never a 500
    page = logged_in(ann).get(DESK, {"promise": "broken"}).content.decode()
    assert "promise-broken" in page and 'id="desk-assign"' not in page and 'id="desk-export"' not in page

    response = client.get(EXPORT, {"collector": str(ann.pk)})
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body.removeprefix(BYTE_ORDER_MARK))))
    assert rows[0][:3] == ["credit account", "customer", "phone"]
    assert sorted(int(r[0]) for r in rows[1:]) == sorted([accounts[0].pk, accounts[1].pk])
    assert all(r[2].startswith("138****") for r in rows[1:])  # phones masked
    assert {r[8] for r in rows[1:]} == {"ann"}
    assert [r[11] for r in rows[1:] if int(r[0]) == accounts[1].pk] == ["broken"]
    export = AuditEvent.objects.get(action="export_csv", object_id="collections-queue")
    assert export.after["rows"] == 2 and export.after["filters"] == {"collector": str(ann.pk)}
    assert logged_in(ann).get(EXPORT).status_code == 403  # a collector does not export


def test_contact_and_promise_forms_on_the_accounts_collections_page(manager):
    (account,) = overdue(1)
    ann = collector("ann")
    client = logged_in(ann)
    page = reverse("admin:accounts_creditaccount_change", args=[account.pk])
    work = reverse("admin:accounts_creditaccount_collections_account", args=[account.pk])
    assert f'href="{work}"' in client.get(page).content.decode()  # the account page links to its collections page
    assert 'id="promise-form"' in client.get(work).content.decode()
    assert client.get(reverse("admin:accounts_creditaccount_collections_account", args=[999999])).status_code == 302
    contact_url = reverse("admin:accounts_creditaccount_collections_contact", args=[account.pk])
    promise_url = reverse("admin:accounts_creditaccount_collections_promise", args=[account.pk])
    assert client.post(contact_url, {"channel": "phone", "outcome": "reached", "note": "will pay"}).status_code == 302
    for bad in [{"amount": "50.00", "promised_for": "tomorrow", "channel": "phone"},
                {"amount": "-5", "promised_for": "2026-12-24", "channel": "phone"}]:
        assert client.post(promise_url, bad).status_code == 302
    assert client.post(promise_url, {"amount": "50.00", "promised_for": "2026-12-24", "channel": "phone"}
                       ).status_code == 302
    assert list(CollectionContact.objects.filter(account=account).order_by("id").values_list("outcome", flat=True)) == [
        "reached", "promised"]
    assert PromiseToPay.objects.get(account=account).amount == Decimal("50.00")
    assert client.get(reverse("admin:accounts_creditaccount_collections_contact", args=[account.pk])).status_code == 405
    assert logged_in(manager).post(
        reverse("admin:accounts_creditaccount_collections_contact", args=[999999]),
        {"channel": "phone", "outcome": "reached"}).status_code == 302  # unknown account: a message


def test_the_desk_and_its_export_cost_the_same_queries_for_2_and_12_accounts(manager):
    accounts = overdue(2)
    ann = collector("ann")
    collection_assign(account_ids=[a.pk for a in accounts], collector_id=ann.pk, acting_user=manager)
    for account in accounts:
        collection_contact_log(account_id=account.pk, channel="phone", outcome="reached", acting_user=ann)
    client = logged_in(manager)

    def queries() -> tuple[int, int, int]:
        client.get(DESK)
        with CaptureQueriesContext(connection) as desk:
            response = client.get(DESK)
        with CaptureQueriesContext(connection) as export:
            rows = b"".join(client.get(EXPORT).streaming_content).decode().count("\r\n") - 1
        return len(desk.captured_queries), len(export.captured_queries), len(response.context["page"].object_list) + rows

    few = queries()
    more = [open_account("tok_insufficient_funds", n=50 + i) for i in range(10)]
    for account in more:
        buy(account, order=f"o-{account.pk}")
    close_until(date(2026, 12, 23))  # none of these is due before 2027-01-20: give them days past due by hand
    CreditAccount.objects.filter(pk__in=[a.pk for a in more]).update(days_past_due=3)
    collection_assign(account_ids=[a.pk for a in more], collector_id=ann.pk, acting_user=manager)
    many = queries()
    assert few[2] == 4 and many[2] == 24
    assert (many[0], many[1]) == (few[0], few[1]) == (DESK_QUERIES, EXPORT_QUERIES)


DESK_QUERIES = 11
EXPORT_QUERIES = 11  # the desk's export reads the business date too
