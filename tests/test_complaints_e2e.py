"""Complaints, closures and reopening end to end (issue 5 acceptance): the storefront API,
a logged-in agent in the admin, the nightly close and the sweep, on real PostgreSQL."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.http import HttpRequest
from django.test import Client
from django.urls import reverse

from accounts import ledger_checks
from accounts.errors import PermissionRefused
from accounts.models import AuditEvent, CreditAccount, JournalLine, Notification
from complaints import tasks
from complaints.models import Complaint, Waiver
from complaints.services.remedies import waiver_approve
from complaints.tests.helpers import START, at, close_until, ensure_grants, staff
from conftest import applicant_payload
from risk.models import Application, ReviewCase, ScoringPolicy
from risk.services.policies import policy_activate, policy_draft_create, policy_draft_update
from risk.services.review_queue import review_case_approve, review_case_claim_next, review_case_reject

pytestmark = [pytest.mark.django_db]

THIN = {"external_id": "u-2002", "name": "Han Mei", "phone": "13800000002", "store_since": "2026-10-01",
        "orders_12m": 1, "spend_12m": "300.00", "return_rate": "0.20"}
BORDERLINE = {"external_id": "u-3003", "name": "Wei Lan", "phone": "13800000003", "store_since": "2020-01-01",
              "orders_12m": 5, "spend_12m": "3000.00", "return_rate": "0.10"}


@pytest.fixture(autouse=True)
def _world(business_date):
    ensure_grants()
    with time_machine.travel(at(START), tick=False):
        yield


@pytest.fixture
def supervisor(db):
    return staff("supervisor", "CS supervisor")


def logged_in(user) -> Client:
    client = Client()
    # django-axes checks every authentication against its lock-outs and needs the request
    assert client.login(request=HttpRequest(), username=user.username, password="pw")
    return client


def post(api, url: str, payload: dict, key: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(url, payload, format="json", **headers)


def apply(api, **overrides) -> dict:
    response = post(api, "/api/v1/applications", applicant_payload(**overrides))
    assert response.status_code == 201, response.content
    return response.json()


def complaint_page(complaint_id: str) -> str:
    return reverse("admin:complaints_complaint_change", args=[complaint_id])


def complaint_action(complaint_id: str, name: str) -> str:
    return reverse(f"admin:complaints_complaint_{name}", args=[complaint_id])


def take_and_start(client: Client, complaint_id: str) -> None:
    assert client.post(complaint_action(complaint_id, "take")).status_code == 302
    assert client.post(complaint_action(complaint_id, "start")).status_code == 302
    assert Complaint.objects.get(pk=complaint_id).status == "in_progress"


def test_limit_not_restored_the_agent_sees_the_restored_amount_and_resolves(api, agent):
    account_id = apply(api)["account_id"]
    bought = post(api, f"/api/v1/accounts/{account_id}/purchases",
                  {"merchant_order_id": "o-1", "amount": "600.00", "installments": 3}, key="buy-1")
    assert bought.status_code == 201, bought.content
    repaid = post(api, f"/api/v1/accounts/{account_id}/repayments", {"reference": "bank-1", "amount": "100.00"},
                  key="repay-1")
    assert repaid.status_code == 201, repaid.content
    assert repaid.json()["limit_restored"] == "100.00"

    filed = post(api, "/api/v1/complaints", {"customer_external_id": "u-1001", "category": "limit_not_restored",
                                             "channel": "app", "description": "I repaid 100 and my limit is the same."},
                 key="complaint-1")
    assert filed.status_code == 201, filed.content
    complaint_id = filed.json()["id"]
    assert filed.json()["account_id"] == account_id
    assert (filed.json()["status"], filed.json()["respond_by"]) == ("new", "2026-12-05T10:00:00+08:00")

    client = logged_in(agent)
    take_and_start(client, complaint_id)
    page = client.get(complaint_page(complaint_id))
    assert page.status_code == 200
    html = page.content.decode()
    row = re.search(r'<tr class="repayment" data-reference="bank-1">(.*?)</tr>', html, re.S)
    assert row, "the repayment is on the evidence panel"
    assert '<td class="money restored">100.00</td>' in row.group(1)
    assert '<td class="money held">0.00</td>' in row.group(1)
    assert "19500.00" in row.group(1)  # available limit after the repayment

    client.post(complaint_action(complaint_id, "resolve"),
                {"resolution": "Your repayment of 100.00 restored 100.00 of your limit at once; "
                               "your available limit is 19,500.00."})

    body = api.get(f"/api/v1/complaints/{complaint_id}").json()
    assert body["status"] == "resolved"
    assert body["acknowledged_at"] == "2026-11-20T10:00:00+08:00"
    assert body["resolution"].startswith("Your repayment of 100.00 restored 100.00")
    kinds = set(Notification.objects.filter(customer__external_id="u-1001").values_list("kind", flat=True))
    assert {"complaint_acknowledged", "complaint_resolved"} <= kinds


def test_activation_failed_the_panel_shows_reason_codes_and_policy_version(api, agent):
    application = apply(api, **THIN)
    assert application["status"] == "rejected"
    assert [r["code"] for r in application["reasons"]] == ["SCORE_BELOW_THRESHOLD"]
    filed = post(api, "/api/v1/complaints", {"customer_external_id": "u-2002", "category": "activation_failed",
                                             "channel": "web", "description": "Why was I refused?"})
    assert filed.status_code == 201, filed.content
    assert filed.json()["account_id"] is None
    complaint_id = filed.json()["id"]
    client = logged_in(agent)
    take_and_start(client, complaint_id)

    html = client.get(complaint_page(complaint_id)).content.decode()

    block = re.search(rf'id="evidence-application-{application["id"]}"(.*?)</table>\s*</td></tr>\s*</table>',
                      html, re.S)
    assert block, "the application is on the evidence panel"
    text = block.group(1)
    assert "<code>SCORE_BELOW_THRESHOLD</code>" in text
    assert "score 330 &lt; 540" in text  # the internal detail
    assert '<strong class="policy-version">v1</strong>' in text
    assert "Months since store customer" in text and "Repayment history with Tally" in text


def test_closure_waits_for_payoff_closes_refuses_purchases_and_reopen_uses_the_current_policy(
        api, agent, manager, manager2):
    account_id = apply(api)["account_id"]
    assert post(api, f"/api/v1/accounts/{account_id}/purchases",
                {"merchant_order_id": "o-1", "amount": "300.00", "installments": 3}).status_code == 201

    requested = post(api, f"/api/v1/accounts/{account_id}/closure-requests", {"channel": "app", "note": "close it"},
                     key="close-1")
    assert requested.status_code == 201, requested.content
    assert requested.json()["status"] == "awaiting_payoff"
    request_id = requested.json()["id"]
    client = logged_in(agent)
    verified = client.post(reverse("admin:complaints_closurerequest_verify_identity", args=[request_id]),
                           {"method": "call-back to the phone on file"})
    assert verified.status_code == 302
    close_until(date(2026, 11, 22))
    tasks.sweep_complaints_and_closures()
    assert api.get(f"/api/v1/closure-requests/{request_id}").json()["status"] == "awaiting_payoff"

    payoff = api.get(f"/api/v1/accounts/{account_id}/payoff-quote").json()
    assert payoff["total"] == "300.00"
    assert post(api, f"/api/v1/accounts/{account_id}/repayments",
                {"reference": "payoff-1", "amount": payoff["total"]}).status_code == 201
    tasks.sweep_complaints_and_closures()

    assert api.get(f"/api/v1/closure-requests/{request_id}").json()["status"] == "approved"
    account = api.get(f"/api/v1/accounts/{account_id}").json()
    assert (account["status"], account["credit_limit"]) == ("closed", "0.00")
    refused = post(api, f"/api/v1/accounts/{account_id}/purchases",
                   {"merchant_order_id": "o-2", "amount": "10.00", "installments": 1})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "account_not_active"
    assert Notification.objects.filter(kind="closure_done", account_id=account_id).count() == 1

    # a risk manager drafts policy v2, another activates it; the reopen application is decided under it
    draft = policy_draft_create(acting_user=manager, notes="v2")
    policy_activate(policy_id=draft.pk, acting_user=manager2, reason_text="quarterly review")
    reopened = apply(api, kind="reopen")
    assert (reopened["status"], reopened["policy_version"]) == ("approved", 2)
    assert reopened["account_id"] == account_id
    assert reopened["credit_limit"] == "20000.00"
    account = api.get(f"/api/v1/accounts/{account_id}").json()
    assert (account["status"], account["available_limit"]) == ("active", "20000.00")
    assert Application.objects.get(pk=reopened["id"]).kind == "reopen"


def test_cs_agents_cannot_decide_credit_applications_or_edit_policies(api, agent):
    application = apply(api, **BORDERLINE)
    assert application["status"] == "in_review"
    case = ReviewCase.objects.get(application_id=application["id"])
    policy = ScoringPolicy.objects.get(status="active")

    def snapshot():
        return (list(Application.objects.values().order_by("id")), list(ReviewCase.objects.values().order_by("id")),
                list(ScoringPolicy.objects.values().order_by("id")), CreditAccount.objects.count(),
                AuditEvent.objects.count())

    before = snapshot()
    refusals = [
        lambda: review_case_claim_next(acting_user=agent),
        lambda: review_case_approve(case_id=case.pk, credit_limit=Decimal("2000.00"), note="",
                                                  acting_user=agent),
        lambda: review_case_reject(case_id=case.pk, reason_code="REVIEW_REJECTED_POLICY", note="no",
                                                 acting_user=agent),
        lambda: policy_draft_create(acting_user=agent),
        lambda: policy_draft_update(policy_id=policy.pk, params=policy.params, notes="",
                                                  acting_user=agent),
        lambda: policy_activate(policy_id=policy.pk, acting_user=agent, reason_text="x"),
    ]
    for refused in refusals:
        with pytest.raises(PermissionRefused):
            refused()
    client = logged_in(agent)
    assert client.post(reverse("admin:risk_reviewcase_claim_next")).status_code == 403
    assert client.post(reverse("admin:risk_scoringpolicy_new_draft")).status_code == 403
    assert client.post(reverse("admin:risk_scoringpolicy_activate", args=[policy.pk])).status_code == 403
    assert snapshot() == before


def test_a_waiver_above_100_needs_a_supervisor_and_the_refusal_changes_nothing(api, agent, supervisor):
    account_id = apply(api, repayment_card_token="tok_insufficient_funds")["account_id"]
    assert post(api, f"/api/v1/accounts/{account_id}/purchases",
                {"merchant_order_id": "big", "amount": "20000.00", "installments": 3}).status_code == 201
    close_until(date(2026, 12, 21))  # the first installment falls due: fee 120.00 posted, the debit declined
    account = CreditAccount.objects.get(pk=account_id)
    assert account.fees_outstanding == Decimal("120.00")
    filed = post(api, "/api/v1/complaints", {"customer_external_id": "u-1001", "category": "fee_dispute",
                                             "channel": "phone", "description": "The fee is too high."})
    complaint_id = filed.json()["id"]
    client = logged_in(agent)
    take_and_start(client, complaint_id)
    fee_item = re.search(r'value="(fee:\d+)"', client.get(complaint_page(complaint_id)).content.decode()).group(1)

    client.post(complaint_action(complaint_id, "waiver"), {"item": fee_item, "amount": "120.00",
                                                           "reason": "the fee was not explained"})

    waiver = Waiver.objects.get()
    assert waiver.status == "pending"

    def snapshot():
        return (CreditAccount.objects.values().get(pk=account_id), JournalLine.objects.count(),
                list(Waiver.objects.values()), AuditEvent.objects.count())

    before = snapshot()
    client.post(reverse("admin:complaints_complaint_waiver_approve", args=[waiver.pk]))
    assert snapshot() == before
    with pytest.raises(PermissionRefused):

        waiver_approve(waiver_id=waiver.pk, acting_user=agent)
    assert snapshot() == before

    logged_in(supervisor).post(reverse("admin:complaints_complaint_waiver_approve", args=[waiver.pk]))

    waiver.refresh_from_db()
    account.refresh_from_db()
    assert (waiver.status, waiver.decided_by) == ("applied", supervisor)
    assert account.fees_outstanding == Decimal("0.00")
    violations, _counts = ledger_checks.run_all()
    assert violations == []
