"""Complaints as team work in a real browser (decision 0033): a supervisor reassigns five
complaints of an agent who is away; an agent filters the complaint list and downloads it as
CSV (only the filtered rows, personal data masked); the complaint page with its deadline
clocks and the navigation at the top left, the waiver queue and the reassignment page, in
English and Simplified Chinese (``20-…-en.png`` / ``-zh.png``)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission, User
from playwright.sync_api import expect

from accounts.models import AuditEvent, CreditAccount, StaffProfile
from complaints.models import Complaint, WaiverStatus
from complaints.services.complaints import complaint_assign, complaint_file, complaint_start
from complaints.services.remedies import complaint_waiver_request
from conftest import applicant_payload, make_id_number
from installments.models import Installment
from installments.services.fees import fees_post_due_accounts
from installments.services.purchases import purchase_create

from .conftest import ARTIFACTS
from .test_admin_flows import log_in, post, staff_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

LANGUAGES = (("en", "en"), ("zh-hans", "zh"))


@pytest.fixture
def team(api) -> dict:
    """The complaint grants of the later migrations (a transactional test flushes them) and three
    members of staff whose back office is in English."""
    export = Permission.objects.get(content_type__app_label="complaints", codename="export_complaints")
    for name in ("CS agent", "CS supervisor"):
        Group.objects.get(name=name).permissions.add(export)
    return {"anna": staff_user("anna", "CS agent"), "bob": staff_user("bob", "CS agent"),
            "sue": staff_user("sue", "CS supervisor")}


def customers(api, count: int) -> list[int]:
    """``count`` customers with a credit account of 20,000.00 (``u-2001`` …), through the API."""
    accounts = []
    for n in range(count):
        payload = applicant_payload(external_id=f"u-{2001 + n}", name="Zhang Wei", phone=f"1380000{2001 + n:04d}",
                                    id_number=make_id_number(f"1101051990010{1001 + n:04d}"))
        accounts.append(int(post(api, "/api/v1/applications", payload)["account_id"]))
    return accounts


def complaint_of(account_id: int, agent: User, category: str, *, started: bool = True) -> Complaint:
    """A complaint filed by ``agent`` on the account, taken by them (and started)."""
    customer = CreditAccount.objects.select_related("customer").get(pk=account_id).customer
    complaint = complaint_file(customer_external_id=customer.external_id, category=category, channel="phone",
                               description="Please look at my account.", account_id=account_id, acting_user=agent)
    complaint_assign(complaint_id=complaint.pk, assignee=agent, acting_user=agent)
    if started:
        complaint_start(complaint_id=complaint.pk, acting_user=agent)
    return Complaint.objects.get(pk=complaint.pk)


def posted_fee(account_id: int) -> Installment:
    """A purchase of 20,000.00 in 3 and the first installment's fee posted (120.00)."""
    purchase_create(account_id=account_id, merchant_order_id="o-1", amount=Decimal("20000.00"), periods=3)
    first = Installment.objects.filter(account_id=account_id).order_by("seq").first()
    assert first is not None
    fees_post_due_accounts(account_ids=[account_id], business_date=first.due_date)
    first.refresh_from_db()
    return first


def speak(user: User, language: str) -> None:
    StaffProfile.objects.filter(user=user).update(language=language)


def full_page(page, name: str) -> None:
    """A full-page screenshot of the document from its top: Django's navigation is sticky, so a
    capture taken after scrolling would draw it where the window was (decision 0033)."""
    page.evaluate("window.scrollTo(0, 0)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def assert_nav_at_top_left(page) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    nav = page.locator("#nav-sidebar").bounding_box()
    content = page.locator("#content").bounding_box()
    assert nav is not None and content is not None
    assert nav["y"] < content["y"] + 5 and nav["x"] < content["x"], (nav, content)
    assert nav["y"] < 150, nav  # right under the header and breadcrumbs


def test_a_supervisor_reassigns_five_complaints_of_an_agent_who_is_away(page, api, team):
    anna, bob, sue = team["anna"], team["bob"], team["sue"]
    accounts = customers(api, 5)
    complaints = [complaint_of(account, anna, "other", started=n >= 2) for n, account in enumerate(accounts)]
    ids = [c.pk for c in complaints]

    log_in(page, sue)
    page.goto("/admin/complaints/complaint/")
    for complaint in complaints:
        page.locator(f"input[name=_selected_action][value='{complaint.pk}']").check()
    page.select_option("select[name=action]", "reassign_selected")
    page.locator("button[name=index]").first.click()

    expect(page.locator("#reassign-complaints")).to_be_visible()
    for complaint in complaints:
        expect(page.locator("#reassign-complaints")).to_contain_text(f"#{complaint.pk}")
    page.select_option("#reassign-form select[name=assignee]", label="bob")
    page.fill("#reassign-form input[name=note]", "Anna is on leave this week.")
    full_page(page, "22-supervisor-reassigns-en")
    page.get_by_role("button", name="Reassign", exact=True).click()

    expect(page.locator(".messagelist .success")).to_contain_text("5 complaint(s) assigned to bob")
    rows = Complaint.objects.filter(pk__in=ids).order_by("id")
    assert [(c.assigned_to_id, c.status) for c in rows] == [(bob.pk, "assigned")] * 2 + [(bob.pk, "in_progress")] * 3
    events = AuditEvent.objects.filter(action="complaint.reassigned", object_id__in=[str(i) for i in ids])
    assert sorted(int(e.object_id) for e in events) == ids
    assert {(e.actor_id, e.reason) for e in events} == {(sue.pk, "Anna is on leave this week.")}
    assert bob.staff_notifications.filter(kind="complaint_assigned").count() == 1

    # the same page in Chinese (nothing applied)
    speak(sue, "zh-hans")
    page.goto("/admin/complaints/complaint/")
    for complaint in complaints[:3]:
        page.locator(f"input[name=_selected_action][value='{complaint.pk}']").check()
    page.select_option("select[name=action]", "reassign_selected")
    page.locator("button[name=index]").first.click()
    expect(page.locator("#reassign-complaints")).to_be_visible()
    full_page(page, "22-supervisor-reassigns-zh")
    assert set(Complaint.objects.filter(pk__in=ids).values_list("assigned_to_id", flat=True)) == {bob.pk}


def test_an_agent_filters_the_complaints_and_downloads_only_those_masked(page, api, team):
    anna = team["anna"]
    accounts = customers(api, 4)
    disputes = [complaint_of(account, anna, "fee_dispute") for account in accounts[:2]]
    others = [complaint_of(account, anna, "other") for account in accounts[2:]]

    log_in(page, anna)
    page.goto("/admin/complaints/complaint/")
    expect(page.locator("#result_list")).to_contain_text(f"#{others[0].pk}")
    expect(page.locator("#result_list .deadline-clock").first).to_contain_text("left")
    page.locator("#changelist-filter").get_by_role("link", name="fee dispute").click()
    expect(page.locator("#result_list")).not_to_contain_text(f"#{others[0].pk}")
    full_page(page, "23-agent-filters-complaints-en")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    path = download.path()
    assert path is not None
    with open(path, encoding="utf-8-sig") as exported:
        text = exported.read()

    rows = list(csv.reader(io.StringIO(text)))
    header, *data = rows
    assert header[0] == "complaint" and "final response by" in header and "escalated" in header
    assert sorted(int(r[0]) for r in data) == sorted(c.pk for c in disputes)
    assert {r[header.index("customer (masked)")] for r in data} == {"Z**** W**"}
    assert "Zhang Wei" not in text and "Please look" not in text
    assert not any("110105" in cell for row in data for cell in row)
    assert download.suggested_filename.startswith("tally-complaints-")
    event = AuditEvent.objects.get(action="export_csv", actor=anna)
    assert event.after["rows"] == 2 and event.after["filters"] == {"category__exact": "fee_dispute"}
    filtered = page.url
    speak(anna, "zh-hans")
    page.goto(filtered)
    expect(page.locator("#result_list")).not_to_contain_text(f"#{others[0].pk}")
    full_page(page, "23-agent-filters-complaints-zh")


def test_the_complaint_page_and_the_waiver_queue_in_both_languages(page, api, team):
    anna, sue = team["anna"], team["sue"]
    (account,) = customers(api, 1)
    fee = posted_fee(account)
    assert fee.fee == Decimal("120.00")
    complaint = complaint_of(account, anna, "fee_dispute")
    complaint_waiver_request(complaint_id=complaint.pk, kind="fee", item_id=fee.pk, amount=Decimal("100.00"),
                             reason_text="goodwill", acting_user=anna)
    waiting = complaint_waiver_request(complaint_id=complaint.pk, kind="fee", item_id=fee.pk,
                                       amount=Decimal("15.00"), reason_text="second charge", acting_user=anna)
    assert waiting.status == WaiverStatus.PENDING

    log_in(page, anna)
    for language, suffix in LANGUAGES:
        speak(anna, language)
        page.goto(f"/admin/complaints/complaint/{complaint.pk}/change/")
        expect(page.locator("#clock-respond .deadline-clock")).to_be_visible()
        assert_nav_at_top_left(page)
        full_page(page, f"20-complaint-page-{suffix}")
    speak(anna, "en")
    page.goto(f"/admin/complaints/complaint/{complaint.pk}/change/")
    page.select_option("#id_resolution-template", "fee_waived")
    # in the customer's language (Chinese, the customers' default), whatever the agent reads
    expect(page.locator("#id_resolution")).to_have_value(
        f"尊敬的Z**** W**，您好！我们已核查信用账户 ****{account % 10000:04d} 的各项费用，并为您减免 100.00 元。"
        "尚未结清的手续费：20.00 元；尚未结清的罚息：0.00 元。")

    page.context.clear_cookies()
    log_in(page, sue)
    for language, suffix in LANGUAGES:
        speak(sue, language)
        page.goto("/admin/complaints/complaint/waivers/")
        expect(page.locator(f"#waiver-queue tr.waiver[data-waiver='{waiting.pk}']")).to_contain_text("15.00")
        assert_nav_at_top_left(page)
        full_page(page, f"21-waiver-queue-{suffix}")
    speak(sue, "en")
    page.goto("/admin/")
    expect(page.locator("#waivers-waiting")).to_have_text("1")
    page.locator("#waivers-waiting").click()
    page.locator(f"tr.waiver[data-waiver='{waiting.pk}']").get_by_role("button", name="Approve").click()
    expect(page.locator(".messagelist .success")).to_contain_text("approved and applied")
    expect(page.locator("#waiver-queue-empty")).to_be_visible()
    assert Complaint.objects.get(pk=complaint.pk).waivers.get(pk=waiting.pk).status == WaiverStatus.APPLIED
