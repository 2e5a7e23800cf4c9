"""The complaints and closure-request API (docs/api.md "Closures and complaints"): shapes, the
error shape with the fields named, idempotency, and 404s."""

from __future__ import annotations

from decimal import Decimal

import pytest

from complaints.models import ClosureRequest, Complaint
from complaints.services.closures import closure_requests_advance

from .helpers import buy, open_account, repay, world

pytestmark = [pytest.mark.django_db]

COMPLAINT = {"customer_external_id": "cx-1", "category": "limit_not_restored", "channel": "app",
             "description": "I repaid 100 yesterday and my limit did not come back."}


def post(api, url, payload, **headers):
    return api.post(url, payload, format="json", **headers)


def test_filing_a_complaint_returns_its_deadlines(api):
    account = open_account()
    response = post(api, "/api/v1/complaints", COMPLAINT)
    assert response.status_code == 201, response.content
    body = response.json()
    complaint = Complaint.objects.get()
    assert body == {
        "id": str(complaint.pk), "status": "new", "category": "limit_not_restored", "channel": "app",
        "customer_external_id": "cx-1", "account_id": str(account.pk),
        "acknowledge_by": "2026-11-21T10:00:00+08:00", "respond_by": "2026-12-05T10:00:00+08:00",
        "acknowledged_at": None, "extended": False, "resolved_at": None, "resolution": "",
        "created_at": "2026-11-20T10:00:00+08:00",
    }
    assert api.get(f"/api/v1/complaints/{complaint.pk}").json() == body
    explicit = post(api, "/api/v1/complaints", {**COMPLAINT, "account_id": str(account.pk), "category": "other"})
    assert explicit.status_code == 201 and explicit.json()["account_id"] == str(account.pk)


@pytest.mark.parametrize(("change", "field"), [
    ({"category": "angry"}, "category"),
    ({"category": None}, "category"),
    ({"channel": "fax"}, "channel"),
    ({"channel": 1}, "channel"),
    ({"description": ""}, "description"),
    ({"description": 42}, "description"),
    ({"customer_external_id": 1001}, "customer_external_id"),
    ({"customer_external_id": "ghost"}, "customer_external_id"),
    ({"account_id": 5}, "account_id"),
    ({"account_id": "abc"}, "account_id"),
    ({"account_id": "999999"}, "account_id"),
])
def test_bad_complaint_input_is_a_400_naming_the_field(api, change, field):
    open_account()
    before = world()
    response = post(api, "/api/v1/complaints", {**COMPLAINT, **change})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in error["details"]
    assert world() == before


def test_a_missing_field_and_malformed_json_are_400s(api):
    open_account()
    payload = dict(COMPLAINT)
    del payload["category"]
    response = post(api, "/api/v1/complaints", payload)
    assert response.status_code == 400 and "category" in response.json()["error"]["details"]
    malformed = api.post("/api/v1/complaints", "{not json", content_type="application/json")
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_request"
    assert not Complaint.objects.exists()


def test_complaint_posts_are_idempotent(api):
    open_account()
    first = post(api, "/api/v1/complaints", COMPLAINT, HTTP_IDEMPOTENCY_KEY="c-1")
    again = post(api, "/api/v1/complaints", COMPLAINT, HTTP_IDEMPOTENCY_KEY="c-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    other = post(api, "/api/v1/complaints", {**COMPLAINT, "description": "else"}, HTTP_IDEMPOTENCY_KEY="c-1")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert Complaint.objects.count() == 1


def test_unknown_complaints_and_requests_are_404_and_the_api_needs_a_token(api, client):
    for url in ("/api/v1/complaints/424242", "/api/v1/complaints/abc", "/api/v1/closure-requests/9",
                "/api/v1/closure-requests/x"):
        response = api.get(url)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/complaints/1").status_code == 401
    assert client.post("/api/v1/complaints", COMPLAINT, content_type="application/json").status_code == 401


def test_closure_request_api(api):
    account = open_account()
    buy(account)
    url = f"/api/v1/accounts/{account.pk}/closure-requests"
    response = post(api, url, {"channel": "app", "note": "I want to close"}, HTTP_IDEMPOTENCY_KEY="cl-1")
    assert response.status_code == 201, response.content
    body = response.json()
    request = ClosureRequest.objects.get()
    assert {k: body[k] for k in ("id", "status", "account_id", "channel", "reasons")} == {
        "id": str(request.pk), "status": "awaiting_payoff", "account_id": str(account.pk), "channel": "app",
        "reasons": []}
    assert body["payoff_expires_at"] == "2026-12-20T10:00:00+08:00"
    assert post(api, url, {"channel": "app", "note": "I want to close"},
                HTTP_IDEMPOTENCY_KEY="cl-1")["Idempotent-Replayed"] == "true"
    assert api.get(f"/api/v1/closure-requests/{request.pk}").json() == body

    duplicate = post(api, url, {"channel": "web"})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "closure_request_open"
    for bad, field in (({"channel": "fax"}, "channel"), ({}, "channel"), ({"channel": "app", "note": 5}, "note")):
        response = post(api, url, bad)
        assert response.status_code == 400 and field in response.json()["error"]["details"]
    assert post(api, "/api/v1/accounts/999999/closure-requests", {"channel": "app"}).status_code == 404
    assert post(api, "/api/v1/accounts/abc/closure-requests", {"channel": "app"}).status_code == 404
    assert ClosureRequest.objects.count() == 1

    repay(account, "300.00")

    closure_requests_advance()
    assert api.get(f"/api/v1/closure-requests/{request.pk}").json()["status"] == "under_review"
    assert Decimal(account.credit_limit) == Decimal("1000.00")


def test_the_openapi_schema_describes_the_complaint_endpoints(client):
    text = client.get("/api/schema/").content.decode()
    for path in ("/api/v1/complaints", "/api/v1/complaints/{complaint_id}",
                 "/api/v1/accounts/{account_id}/closure-requests", "/api/v1/closure-requests/{request_id}"):
        assert path in text
    assert "complaints_create" in text and "closure_requests_create" in text
