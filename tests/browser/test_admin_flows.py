"""Issue 6: the back office in a real browser (Chromium via Playwright) against a live
server — a reviewer claims and approves a case, an agent files, investigates and resolves a
``limit_not_restored`` complaint, and a CS agent is refused a credit decision. Each scenario
asserts what the database holds afterwards; screenshots go to ``test-artifacts/browser/``."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import expect
from rest_framework.test import APIClient

from accounts.models import AuditEvent, CreditAccount, Notification, StaffProfile
from complaints.models import Complaint
from conftest import applicant_payload
from risk.models import Application, ReviewCase

from .conftest import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PASSWORD = "browser-pw-1"
# Scores between the automatic thresholds: the application goes to manual review.
BORDERLINE = {"external_id": "u-3003", "name": "Wei Lan", "phone": "13800000003", "store_since": "2020-01-01",
              "orders_12m": 5, "spend_12m": "3000.00", "return_rate": "0.10"}


def staff_user(username: str, group: str) -> User:
    """A staff member whose back office is in English (new staff default to Chinese), so
    the tests do not depend on the state of the translations."""
    user = User.objects.create_user(username=username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    StaffProfile.objects.create(user=user, language="en")
    return user


def post(api: APIClient, url: str, payload: dict, key: str | None = None) -> dict:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    response = api.post(url, payload, format="json", **headers)
    assert response.status_code == 201, response.content
    return response.json()


def log_in(page, user: User) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(user.username)


def test_a_reviewer_logs_in_claims_the_next_case_and_approves_it(page, api):
    application = post(api, "/api/v1/applications", applicant_payload(**BORDERLINE))
    assert application["status"] == "in_review"
    case = ReviewCase.objects.get(application_id=application["id"])
    reviewer = staff_user("rita", "Risk reviewer")

    log_in(page, reviewer)
    page.goto("/admin/risk/reviewcase/")
    expect(page.locator("#result_list")).to_contain_text(f"#{case.pk}")
    screenshot(page, "01-reviewer-queue")
    page.get_by_role("button", name="Claim next case").click()

    page.wait_for_url(f"**/admin/risk/reviewcase/{case.pk}/change/")
    expect(page.locator("#score-breakdown")).to_be_visible()
    expect(page.locator(".case-facts").first).to_contain_text("Claimed by you")
    page.fill("#id_credit_limit", "3000")
    page.locator("form[action$='/approve/'] textarea[name=note]").fill("Long-standing store customer.")
    screenshot(page, "02-reviewer-case-claimed")
    page.click("button[name=approve]")

    page.wait_for_url("**/admin/risk/reviewcase/")
    expect(page.locator(".messagelist .success")).to_contain_text(f"Case #{case.pk} approved")
    screenshot(page, "03-reviewer-approved")

    case.refresh_from_db()
    assert (case.status, case.decision, case.decided_by_id) == ("decided", "approved", reviewer.pk)
    assert case.decision_note == "Long-standing store customer."
    decided = Application.objects.get(pk=application["id"])
    assert (decided.status, decided.credit_limit, decided.decided_by_id) == ("approved", Decimal("3000.00"),
                                                                              reviewer.pk)
    account = CreditAccount.objects.get(customer__external_id="u-3003")
    assert (account.status, account.credit_limit, account.available_limit) == ("active", Decimal("3000.00"),
                                                                                Decimal("3000.00"))
    assert AuditEvent.objects.filter(actor=reviewer, object_type="risk.reviewcase", object_id=str(case.pk)).exists()


def test_an_agent_files_a_limit_not_restored_complaint_reads_the_evidence_and_resolves_it(page, api):
    account_id = post(api, "/api/v1/applications", applicant_payload())["account_id"]
    post(api, f"/api/v1/accounts/{account_id}/purchases",
         {"merchant_order_id": "o-1", "amount": "600.00", "installments": 3}, key="buy-1")
    repaid = post(api, f"/api/v1/accounts/{account_id}/repayments", {"reference": "bank-1", "amount": "100.00"},
                  key="repay-1")
    assert repaid["limit_restored"] == "100.00"
    agent = staff_user("anna", "CS agent")

    log_in(page, agent)
    page.goto("/admin/complaints/complaint/")
    page.get_by_role("link", name="File a complaint").click()
    page.fill("input[name=customer_external_id]", "u-1001")
    page.fill("input[name=account_id]", str(account_id))
    page.select_option("select[name=category]", "limit_not_restored")
    page.select_option("select[name=channel]", "phone")
    page.fill("textarea[name=description]", "I repaid 100 yesterday and my limit did not come back.")
    screenshot(page, "04-agent-files-complaint")
    page.get_by_role("button", name="Record the complaint").click()

    expect(page.locator(".messagelist .success")).to_contain_text("recorded")
    complaint = Complaint.objects.get(customer__external_id="u-1001")
    assert (complaint.status, complaint.category, complaint.account_id) == ("new", "limit_not_restored", int(account_id))
    page.get_by_role("button", name="Assign to me").click()
    expect(page.get_by_role("button", name="Acknowledge and start")).to_be_visible()
    page.get_by_role("button", name="Acknowledge and start").click()
    expect(page.locator("form[action$='/resolve/']")).to_be_visible()

    repayment = page.locator("#evidence-repayments tr.repayment[data-reference=bank-1]")
    expect(repayment.locator("td.restored")).to_have_text("100.00")
    expect(repayment.locator("td.held")).to_have_text("0.00")
    expect(repayment.locator("td.money").last).to_have_text("19500.00")  # available after the repayment
    expect(page.locator("#evidence-account")).to_contain_text("20000.00 / 19500.00 / 0.00")
    page.locator("#evidence").scroll_into_view_if_needed()
    screenshot(page, "05-agent-reads-evidence")

    resolution = ("Your repayment of 100.00 restored 100.00 of your limit at once; "
                  "your available limit is 19,500.00.")
    page.fill("form[action$='/resolve/'] textarea[name=resolution]", resolution)
    page.get_by_role("button", name="Send final response").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    expect(page.locator("#complaint-state")).to_contain_text("Resolved")
    screenshot(page, "06-agent-resolved")

    complaint.refresh_from_db()
    assert (complaint.status, complaint.resolution, complaint.resolved_by_id) == ("resolved", resolution, agent.pk)
    assert complaint.assigned_to_id == agent.pk and complaint.acknowledged_at is not None
    kinds = set(Notification.objects.filter(customer__external_id="u-1001").values_list("kind", flat=True))
    assert {"complaint_acknowledged", "complaint_resolved"} <= kinds


def test_a_cs_agent_is_refused_a_credit_decision_and_nothing_changes(page, api):
    application = post(api, "/api/v1/applications", applicant_payload(**BORDERLINE))
    case = ReviewCase.objects.get(application_id=application["id"])
    agent = staff_user("carl", "CS agent")

    def world():
        return (list(Application.objects.values().order_by("id")), list(ReviewCase.objects.values().order_by("id")),
                CreditAccount.objects.count(), AuditEvent.objects.count())

    before = world()
    log_in(page, agent)
    page.goto("/admin/risk/reviewcase/")
    expect(page.locator("#result_list")).to_contain_text(f"#{case.pk}")  # agents may look at the queue
    expect(page.get_by_role("button", name="Claim next case")).to_have_count(0)
    page.goto(f"/admin/risk/reviewcase/{case.pk}/change/")
    expect(page.locator("#score-breakdown")).to_be_visible()
    expect(page.locator("button[name=approve]")).to_have_count(0)
    screenshot(page, "07-agent-views-case-without-decision-forms")

    # The agent forges the approve form the reviewer would see and submits it from the page.
    with page.expect_navigation() as navigation:
        page.evaluate("""([action, token]) => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = action;
            for (const [name, value] of [['csrfmiddlewaretoken', token], ['credit_limit', '3000'], ['note', 'me']]) {
                const input = document.createElement('input');
                input.type = 'hidden'; input.name = name; input.value = value;
                form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
        }""", [f"/admin/risk/reviewcase/{case.pk}/approve/",
               page.locator("input[name=csrfmiddlewaretoken]").first.input_value()])
    assert navigation.value.status == 403
    assert "CSRF" not in page.content()  # refused for the permission, not for a bad token
    screenshot(page, "08-agent-refused")

    assert world() == before
    assert Application.objects.get(pk=application["id"]).status == "in_review"
    assert not CreditAccount.objects.filter(customer__external_id="u-3003").exists()
    case.refresh_from_db()
    assert (case.status, case.decision, case.claimed_by_id) == ("open", "", None)
