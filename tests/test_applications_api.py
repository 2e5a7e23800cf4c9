"""POST /api/v1/applications end to end on real PostgreSQL (issue 2 acceptance)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditEvent, CreditAccount, Customer, Notification
from conftest import applicant_payload, make_id_number
from risk import tasks
from risk.identity import IdentityResult
from risk.models import Application, ReviewCase
from risk.services.policies import policy_activate, policy_draft_create, policy_draft_update

pytestmark = pytest.mark.django_db

THIN = {"store_since": "2026-10-01", "orders_12m": 1, "spend_12m": "300.00", "return_rate": "0.20"}
BORDERLINE = {"store_since": "2020-01-01", "orders_12m": 5, "spend_12m": "3000.00", "return_rate": "0.10"}


def post(api, payload, **headers):
    return api.post("/api/v1/applications", payload, format="json", **headers)


def counts():
    return (Customer.objects.count(), Application.objects.count(), CreditAccount.objects.count(),
            ReviewCase.objects.count(), Notification.objects.count(), AuditEvent.objects.count())


def test_strong_profile_is_approved_with_20000_and_opens_an_account(api):
    response = post(api, applicant_payload())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "approved"
    assert body["score"] == 730
    assert body["credit_limit"] == "20000.00"
    assert body["policy_version"] == 1
    assert body["reasons"][0]["code"] == "APPROVED"
    assert body["customer"]["id_number"] == "110***********002X"
    account = CreditAccount.objects.get(pk=int(body["account_id"]))
    assert account.status == "active"
    assert account.credit_limit == Decimal("20000.00")
    assert account.available_limit == Decimal("20000.00")
    assert account.billing_day == 20
    assert account.repayment_card_token == "tok_ok"
    application = Application.objects.get(pk=int(body["id"]))
    assert application.score_breakdown["months_since_customer"] == {"value": "68", "points": 120}
    assert application.score_breakdown["spend_12m"]["points"] == 110
    assert application.reasons[0]["detail"] == "score 730"
    # the account GET shows it
    account_body = api.get(f"/api/v1/accounts/{body['account_id']}").json()
    assert account_body == {
        "id": body["account_id"], "customer_external_id": "u-1001", "status": "active",
        "credit_limit": "20000.00", "available_limit": "20000.00", "held_amount": "0.00",
        "outstanding": {"principal": "0.00", "fees": "0.00", "penalties": "0.00", "total": "0.00"},
        "credit_balance": "0.00", "days_past_due": 0, "bucket": "current", "billing_day": 20,
        "auto_debit": True, "opened_on": "2026-11-20", "written_off": None,
    }
    # the clear ID number is nowhere in the response, and stored only encrypted
    assert "11010519491231002X" not in response.content.decode()
    customer = Customer.objects.get(external_id="u-1001")
    assert "11010519491231002X" not in customer.id_number_encrypted
    assert customer.reveal_id_number() == "11010519491231002X"
    assert Notification.objects.filter(customer=customer, kind="application_result").count() == 1


def test_get_application_returns_the_same_shape(api):
    created = post(api, applicant_payload()).json()
    fetched = api.get(f"/api/v1/applications/{created['id']}").json()
    assert fetched == created


def test_thin_profile_is_rejected_score_below_threshold(api):
    body = post(api, applicant_payload(**THIN)).json()
    assert body["status"] == "rejected"
    assert body["score"] == 330
    assert [r["code"] for r in body["reasons"]] == ["SCORE_BELOW_THRESHOLD"]
    assert "credit_limit" not in body and "account_id" not in body
    assert not CreditAccount.objects.exists()


def test_borderline_profile_goes_to_review_with_a_case(api):
    body = post(api, applicant_payload(**BORDERLINE)).json()
    assert body["status"] == "in_review"
    assert body["score"] == 560
    assert [r["code"] for r in body["reasons"]] == ["BORDERLINE_SCORE"]
    case = ReviewCase.objects.get(application_id=int(body["id"]))
    assert case.status == "open"
    assert timedelta(hours=23, minutes=59) < case.due_at - timezone.now() <= timedelta(hours=24)
    assert not CreditAccount.objects.exists()


def test_bad_check_digit_is_rejected_id_invalid(api):
    body = post(api, applicant_payload(id_number="110105194912310021")).json()
    assert body["status"] == "rejected"
    assert [r["code"] for r in body["reasons"]] == ["ID_INVALID"]
    assert body["score"] is None


def test_stolen_store_account_is_rejected_account_abnormal(api):
    body = post(api, applicant_payload(store_status="stolen")).json()
    assert body["status"] == "rejected"
    assert [r["code"] for r in body["reasons"]] == ["ACCOUNT_ABNORMAL"]


def test_spend_below_200_is_insufficient_history(api):
    body = post(api, applicant_payload(spend_12m="199.99")).json()
    assert [r["code"] for r in body["reasons"]] == ["INSUFFICIENT_HISTORY"]


def test_fourth_application_in_seven_days_is_velocity(api):
    with time_machine.travel(timezone.now() - timedelta(days=3), tick=False):
        assert post(api, applicant_payload(**THIN)).json()["status"] == "rejected"
    for _ in range(2):
        assert post(api, applicant_payload(**THIN)).json()["reasons"][0]["code"] == "SCORE_BELOW_THRESHOLD"
    fourth = post(api, applicant_payload(**THIN)).json()
    assert fourth["status"] == "rejected"
    assert [r["code"] for r in fourth["reasons"]] == ["VELOCITY"]
    retry_on = (timezone.localtime(timezone.now()) + timedelta(days=4)).date().isoformat()
    assert retry_on in fourth["reasons"][0]["message"]


def test_velocity_window_is_seven_days(api):
    with time_machine.travel(timezone.now() - timedelta(days=8), tick=False):
        post(api, applicant_payload(**THIN))
    for _ in range(2):
        post(api, applicant_payload(**THIN))
    assert post(api, applicant_payload(**THIN)).json()["reasons"][0]["code"] == "SCORE_BELOW_THRESHOLD"


def test_identity_mismatch_is_rejected(api):
    body = post(api, applicant_payload(name="TEST MISMATCH")).json()
    assert body["status"] == "rejected"
    assert [r["code"] for r in body["reasons"]] == ["ID_MISMATCH"]


def test_provider_down_is_pending_retry_and_retries_end_in_review_never_rejection(api):
    body = post(api, applicant_payload(name="TEST UNAVAILABLE")).json()
    assert body["status"] == "pending_retry"
    assert [r["code"] for r in body["reasons"]] == ["UPSTREAM_UNAVAILABLE"]
    application = Application.objects.get(pk=int(body["id"]))
    first_retry = application.next_identity_retry_at
    assert timedelta(seconds=55) < first_retry - timezone.now() <= timedelta(seconds=60)
    # not yet due: the task leaves it alone
    assert tasks.retry_pending_applications() == 0
    start = timezone.now()
    offsets = [60, 360, 2160, 2160 + 86400, 2160 + 2 * 86400, 2160 + 3 * 86400]
    for n, offset in enumerate(offsets, start=1):
        with time_machine.travel(start + timedelta(seconds=offset + 1), tick=False):
            assert tasks.retry_pending_applications() == 1
        application.refresh_from_db()
        if n < len(offsets):
            assert application.status == "pending_retry", n
    assert application.status == "in_review"
    assert application.flags == ["UPSTREAM_UNAVAILABLE"]
    assert application.identity_attempts == 7
    assert ReviewCase.objects.filter(application=application).exists()
    assert api.get(f"/api/v1/applications/{body['id']}").json()["status"] == "in_review"


class RecoveredProvider:
    def verify(self, *, name, id_number):
        return IdentityResult(matched=True, reference="recovered")


def test_pending_retry_is_decided_by_the_retry_task_when_the_provider_recovers(api):
    body = post(api, applicant_payload(name="TEST UNAVAILABLE")).json()
    assert body["status"] == "pending_retry"
    with override_settings(TALLY_IDENTITY_PROVIDER="tests.test_applications_api.RecoveredProvider"), \
            time_machine.travel(timezone.now() + timedelta(minutes=2), tick=False):
        assert tasks.retry_pending_applications() == 1
    decided = api.get(f"/api/v1/applications/{body['id']}").json()
    assert decided["status"] == "approved"
    assert decided["credit_limit"] == "20000.00"
    assert CreditAccount.objects.filter(pk=int(decided["account_id"])).exists()


def test_shared_phone_sends_an_approvable_application_to_review(api):
    post(api, applicant_payload())
    other = applicant_payload(external_id="u-2002", id_number=make_id_number("11010519800101001"))
    body = post(api, other).json()
    assert body["status"] == "in_review"
    assert [r["code"] for r in body["reasons"]] == ["SHARED_PHONE"]


def test_high_limit_goes_to_review(api, manager, manager2):

    draft = policy_draft_create(acting_user=manager, notes="lower high-limit threshold")
    params = dict(draft.params, high_limit_threshold="10000")
    policy_draft_update(policy_id=draft.pk, params=params, notes="test", acting_user=manager)
    policy_activate(policy_id=draft.pk, acting_user=manager2, reason_text="test")  # four eyes
    body = post(api, applicant_payload()).json()
    assert body["status"] == "in_review"
    assert body["policy_version"] == 2
    assert [r["code"] for r in body["reasons"]] == ["HIGH_LIMIT"]
    assert Application.objects.get(pk=int(body["id"])).proposed_limit == Decimal("20000.00")


def test_existing_open_account_gets_409_and_nothing_changes(api):
    post(api, applicant_payload())
    before = counts()
    customer_before = Customer.objects.values().get(external_id="u-1001")
    response = post(api, applicant_payload(name="Changed Name"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "account_exists"
    assert counts() == before
    assert Customer.objects.values().get(external_id="u-1001") == customer_before


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p["customer"].pop("id_number"), "customer.id_number"),
        (lambda p: p.pop("kind"), "kind"),
        (lambda p: p["customer"].update(spend_12m=26800.00), "customer.spend_12m"),
        (lambda p: p["customer"].update(spend_12m=26800), "customer.spend_12m"),
        (lambda p: p["customer"].update(spend_12m="12.345"), "customer.spend_12m"),
        (lambda p: p["customer"].update(spend_12m="-5.00"), "customer.spend_12m"),
        (lambda p: p.update(kind="upgrade"), "kind"),
        (lambda p: p["customer"].update(store_status="hacked"), "customer.store_status"),
        (lambda p: p["customer"].update(orders_12m="42"), "customer.orders_12m"),
        (lambda p: p["customer"].update(orders_12m=4.5), "customer.orders_12m"),
        (lambda p: p["customer"].update(orders_12m=True), "customer.orders_12m"),
        (lambda p: p["customer"].update(name=12345), "customer.name"),
        (lambda p: p["customer"].update(store_since="01/03/2021"), "customer.store_since"),
        (lambda p: p["customer"].update(store_since="5329-10-10"), "customer.store_since"),
        (lambda p: p["customer"].update(return_rate="1.5"), "customer.return_rate"),
        (lambda p: p["customer"].update(phone=["138"]), "customer.phone"),
        (lambda p: p.update(customer="u-1001"), "customer.non_field_errors"),
        (lambda p: p["customer"].update(name="x" * 500), "customer.name"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_writes_nothing(api, mutate, field):
    payload = applicant_payload()
    mutate(payload)
    before = counts()
    response = post(api, payload)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in error["details"], error
    assert counts() == before


def test_ten_megabyte_body_is_400_and_writes_nothing(api):
    before = counts()
    payload = applicant_payload(name="x" * (10 * 1024 * 1024))
    response = api.post("/api/v1/applications", data=json.dumps(payload), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "request_too_large"
    assert counts() == before


@pytest.mark.parametrize("body", [b"{not json", b"[]", b"null", b"\"string\"", b"", b"\xff\xfe"])
def test_malformed_bodies_are_400(api, body):
    before = counts()
    response = api.generic("POST", "/api/v1/applications", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "error" in response.json()
    assert counts() == before


def test_no_token_is_401_and_wrong_token_is_401(api, db):
    anonymous = APIClient()
    response = anonymous.post("/api/v1/applications", applicant_payload(), format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    anonymous.credentials(HTTP_AUTHORIZATION="Token nope")
    assert anonymous.get("/api/v1/accounts/1").status_code == 401
    assert Application.objects.count() == 0


@pytest.mark.parametrize("path", ["/api/v1/applications/999999", "/api/v1/applications/abc",
                                  "/api/v1/accounts/-1", "/api/v1/accounts/1e9", "/api/v1/nothing"])
def test_unknown_ids_are_404_in_the_error_shape(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_second_application_while_one_is_in_review_is_409_and_changes_nothing(api):
    first = post(api, applicant_payload(**BORDERLINE)).json()
    assert first["status"] == "in_review"
    before = counts()
    response = post(api, applicant_payload())
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "application_pending"
    assert counts() == before
