"""The collections desk in a real browser: a collector logs a contact and a promise to pay on an
overdue account, the close runs past the promised date without a payment, and the desk shows
the promise broken (the database agrees, and the collector was notified). Screenshots:
``30-collections-promise-en.png`` / ``-zh.png`` and ``30-collections-desk-en.png`` / ``-zh.png``."""

from __future__ import annotations

import importlib
from datetime import date

import pytest
from django.contrib.auth.models import Group, Permission, User
from playwright.sync_api import expect

from accounts.business_day import business_date_set
from accounts.models import StaffNotification, StaffProfile
from installments.models import CollectionContact, PromiseToPay
from tests.credit_lines import buy, close_until, open_account

from .conftest import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PASSWORD = "browser-pw-1"
GRANTS = importlib.import_module("installments.migrations.0008_collections_grants")


def collector(username: str) -> User:
    """A member of the Collector group (recreated: a transactional test starts from flushed tables)."""
    group, _ = Group.objects.get_or_create(name=GRANTS.COLLECTOR)
    for app_label, codename in GRANTS.COLLECTOR_PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    user = User.objects.create_user(username=username, password=PASSWORD, is_staff=True)
    user.groups.add(group)
    StaffProfile.objects.update_or_create(user=user, defaults={"language": "en"})
    return user


def test_a_collector_records_a_promise_that_the_close_finds_broken(page):
    business_date_set(new_date=date(2026, 11, 20), acting_user=None, reason="browser test")
    account = open_account("tok_insufficient_funds")
    buy(account)
    close_until(date(2026, 12, 22))  # due 2026-12-20, declined: in collections
    cora = collector("cora")

    page.goto("/admin/login/?next=/admin/")
    page.fill("input[name=username]", cora.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(cora.username)
    page.goto("/admin/accounts/creditaccount/collections/")
    expect(page.locator(f"tr[data-account='{account.pk}']")).to_be_visible()
    page.click(f"tr[data-account='{account.pk}'] th a")
    page.click("#work-account")  # from the account page to its collections page

    page.select_option("#contact-channel", "phone")
    page.select_option("#contact-outcome", "no_answer")
    page.fill("#contact-note", "rang at 10:00, voicemail")
    page.click("#contact-form input[type=submit]")
    expect(page.locator("#contacts")).to_contain_text("rang at 10:00, voicemail")

    page.select_option("#promise-channel", "phone")
    page.fill("#promise-amount", "100.00")
    page.fill("#promise-date", "2026-12-23")
    page.fill("#promise-note", "pays after payday")
    page.click("#promise-form input[type=submit]")
    expect(page.locator("#promises")).to_contain_text("100.00")
    expect(page.locator("#promises .promise-status")).to_have_text("open")
    screenshot(page, "30-collections-promise-en")
    promise = PromiseToPay.objects.get(account=account)
    assert (promise.status, promise.amount, promise.promised_for, promise.collector) == (
        "open", promise.amount, date(2026, 12, 23), cora)
    assert list(CollectionContact.objects.filter(account=account).order_by("id").values_list("outcome", flat=True)) == [
        "no_answer", "promised"]

    close_until(date(2026, 12, 24))  # the close of 12-23: nothing paid
    promise.refresh_from_db()
    assert (promise.status, str(promise.paid), promise.settled_on) == ("broken", "0.00", date(2026, 12, 23))
    assert StaffNotification.objects.filter(recipient=cora, kind="collections.promise_broken").count() == 1

    page.goto("/admin/accounts/creditaccount/collections/?promise=broken")
    row = page.locator(f"tr[data-account='{account.pk}']")
    expect(row).to_have_class("collections-row promise-broken")
    expect(row.locator("td.promise")).to_contain_text("broken")
    expect(row.locator("td.collector")).to_have_text("-")  # nobody assigned it: the promise's collector was told
    screenshot(page, "30-collections-desk-en")

    StaffProfile.objects.filter(user=cora).update(language="zh-hans")
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator(f"tr[data-account='{account.pk}'] td.promise")).to_have_attribute("data-promise", "broken")
    screenshot(page, "30-collections-desk-zh")
    page.goto(f"/admin/accounts/creditaccount/{account.pk}/collections/")
    expect(page.locator("#promises")).to_contain_text("100.00")
    screenshot(page, "30-collections-promise-zh")
