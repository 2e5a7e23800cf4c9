"""Review at speed in a real browser (decision 0032): a reviewer approves-and-nexts through three
cases with the keyboard alone; a risk manager finds the escalated case in their inbox and the
notification in "My notifications". Screenshots in English and Simplified Chinese:
``10-reviewer-queue``, ``10-reviewer-keyboard`` (the case page with the help overlay),
``11-manager-inbox``, ``12-my-notifications`` (each ``-en.png`` and ``-zh.png``)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import expect

from accounts.business_day import business_date_set
from accounts.models import StaffNotification, StaffProfile
from risk.models import Application, ReviewCase
from risk.services.review_queue import review_case_claim_next, review_case_escalate
from risk.tests.review_helpers import review_case, staff

from .conftest import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def log_in(page, user: User) -> None:
    page.context.clear_cookies()
    page.goto("/admin/login/?next=/admin/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pw")
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(user.username)


def speak(user: User, language: str) -> None:
    StaffProfile.objects.update_or_create(user=user, defaults={"language": language})


def test_a_reviewer_approves_and_nexts_three_cases_by_keyboard_and_the_manager_is_told(page):
    business_date_set(new_date=timezone.localdate(), acting_user=None, reason="browser test")
    cases = [review_case(n) for n in range(1, 4)]
    reviewer = staff("rita", "Risk reviewer")
    manager = staff("mona", "Risk manager")
    speak(reviewer, "en")
    speak(manager, "en")

    log_in(page, reviewer)
    page.goto("/admin/risk/reviewcase/")
    expect(page.locator("#my-day")).to_be_visible()
    expect(page.locator(".deadline-clock").first).to_contain_text("left")
    screenshot(page, "10-reviewer-queue-en")

    page.keyboard.press("n")  # claim the next case
    page.wait_for_url(f"**/admin/risk/reviewcase/{cases[0].pk}/change/")
    page.keyboard.press("?")
    expect(page.locator("#shortcut-help")).to_be_visible()
    screenshot(page, "10-reviewer-keyboard-en")
    page.keyboard.press("Escape")
    expect(page.locator("#shortcut-help")).to_be_hidden()

    for case, following in zip(cases, [*cases[1:], None], strict=True):
        page.keyboard.press("a")  # to the limit field (pre-filled with the scorecard's limit)
        expect(page.locator("input[name=credit_limit]")).to_be_focused()
        page.keyboard.press("Enter")  # Approve & next
        if following is not None:
            page.wait_for_url(f"**/admin/risk/reviewcase/{following.pk}/change/")
        else:
            page.wait_for_url("**/admin/risk/reviewcase/")
            expect(page.locator("ul.messagelist")).to_contain_text("No more cases for you in the queue.")
    applications = Application.objects.filter(pk__in=[c.application_id for c in cases]).order_by("pk")
    assert [(a.status, str(a.credit_limit), a.decided_by_id) for a in applications] == [
        ("approved", "2000.00", reviewer.pk)] * 3
    assert [c.decision for c in ReviewCase.objects.filter(pk__in=[c.pk for c in cases])] == ["approved"] * 3
    expect(page.locator("#my-day-decided")).to_have_text("3")

    # an escalation reaches the risk manager: their inbox and their notifications
    escalated = review_case(4)
    assert review_case_claim_next(acting_user=reviewer).pk == escalated.pk
    review_case_escalate(case_id=escalated.pk, note="store history looks odd", acting_user=reviewer)
    assert StaffNotification.objects.filter(recipient=manager, kind="review_case.escalated").count() == 1
    log_in(page, manager)
    expect(page.locator("#staff-inbox-unread")).to_have_text("1")
    expect(page.locator("#manager-inbox-escalated")).to_have_text("1")
    page.click("#manager-inbox-link")
    expect(page.locator("#result_list")).to_contain_text(f"#{escalated.pk}")
    screenshot(page, "11-manager-inbox-en")
    page.click("#staff-inbox-link")
    expect(page.locator("#staff-inbox")).to_contain_text("store history looks odd")
    screenshot(page, "12-my-notifications-en")

    # the same pages in Simplified Chinese
    review_case(5)
    speak(reviewer, "zh-hans")
    speak(manager, "zh-hans")
    log_in(page, reviewer)
    page.goto("/admin/risk/reviewcase/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    screenshot(page, "10-reviewer-queue-zh")
    page.keyboard.press("n")
    page.wait_for_url("**/change/")
    page.keyboard.press("?")
    expect(page.locator("#shortcut-help")).to_be_visible()
    screenshot(page, "10-reviewer-keyboard-zh")
    log_in(page, manager)
    page.goto("/admin/risk/reviewcase/?queue=awaiting_manager")
    screenshot(page, "11-manager-inbox-zh")
    page.click("#staff-inbox-link")
    expect(page.locator("#staff-inbox")).to_be_visible()
    screenshot(page, "12-my-notifications-zh")
    page.click("#staff-inbox-read-all")
    expect(page.locator("#staff-inbox-unread")).to_have_count(0)
    assert StaffNotification.objects.filter(recipient=manager, read_at__isnull=True).count() == 0
