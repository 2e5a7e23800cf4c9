"""Storefront API requests take their own middleware stack (config/api/handler.py; decision
0042): through the WSGI application gunicorn serves, an API request gets the same answers and
headers as through the back office's full stack, touches no session, CSRF or staff layer, and the
back office keeps every layer."""

from __future__ import annotations

import io
import json
from wsgiref.util import setup_testing_defaults

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from rest_framework.test import APIClient

from config.api.clients import api_client_create_or_rotate
from config.wsgi import application
from installments.models import Purchase
from tests.test_purchases import open_account

pytestmark = pytest.mark.django_db(transaction=True)


def _call(method: str, path: str, body: dict | None = None, **headers: str):
    environ: dict = {}
    setup_testing_defaults(environ)
    data = json.dumps(body).encode() if body is not None else b""
    environ.update({"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(data),
                    "CONTENT_LENGTH": str(len(data)), "CONTENT_TYPE": "application/json", **headers})
    answered: dict = {}

    def start_response(status, response_headers, exc_info=None):
        answered["status"] = int(status.split()[0])
        answered["headers"] = dict(response_headers)

    chunks = application(environ, start_response)
    try:
        content = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return answered["status"], answered["headers"], content


@pytest.fixture
def layers(monkeypatch):
    """How often the session and CSRF layers ran."""
    ran = {"session": 0, "csrf": 0}
    session, csrf = SessionMiddleware.process_request, CsrfViewMiddleware.process_view

    def session_ran(self, request):
        ran["session"] += 1
        return session(self, request)

    def csrf_ran(self, request, *args):
        ran["csrf"] += 1
        return csrf(self, request, *args)

    monkeypatch.setattr(SessionMiddleware, "process_request", session_ran)
    monkeypatch.setattr(CsrfViewMiddleware, "process_view", csrf_ran)
    return ran


def test_an_api_request_answers_as_through_the_full_stack_without_the_back_office_layers(business_date, layers):
    _client, token = api_client_create_or_rotate(name="storefront-handler")
    account = open_account(limit="1000.00")
    auth = f"Token {token}"
    api = APIClient()  # the test client runs the full stack
    api.credentials(HTTP_AUTHORIZATION=auth)
    full = api.get(f"/api/v1/accounts/{account.pk}")
    chinese = api.get("/api/v1/accounts/999999", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    assert layers == {"session": 2, "csrf": 2}  # the test client's full stack
    layers.update(session=0, csrf=0)
    status, headers, content = _call("GET", f"/api/v1/accounts/{account.pk}", HTTP_AUTHORIZATION=auth)
    assert (status, json.loads(content)) == (200, full.json())
    for header in ("Content-Type", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy",
                   "Content-Language"):
        assert headers.get(header) == full.headers.get(header), header
    assert len(headers["X-Request-ID"]) == 32 and "Set-Cookie" not in headers
    assert layers == {"session": 0, "csrf": 0}

    # the language from Accept-Language, the error shape, the body size limit
    status, headers, content = _call("GET", "/api/v1/accounts/999999", HTTP_AUTHORIZATION=auth,
                                     HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    assert (status, json.loads(content)) == (404, chinese.json()) and headers["Content-Language"] == "zh-hans"
    status, _headers, content = _call("POST", f"/api/v1/accounts/{account.pk}/purchases",
                                      {"merchant_order_id": "x" * 2_000_000}, HTTP_AUTHORIZATION=auth)
    assert status == 400 and json.loads(content)["error"]["code"] == "request_too_large"

    # a keyed purchase, then the same key again: booked once, replayed
    order = {"merchant_order_id": "o-h", "amount": "120.00", "installments": 3}
    first = _call("POST", f"/api/v1/accounts/{account.pk}/purchases", order, HTTP_AUTHORIZATION=auth,
                  HTTP_IDEMPOTENCY_KEY="k-h")
    again = _call("POST", f"/api/v1/accounts/{account.pk}/purchases", order, HTTP_AUTHORIZATION=auth,
                  HTTP_IDEMPOTENCY_KEY="k-h")
    assert first[0] == again[0] == 201 and json.loads(first[2]) == json.loads(again[2])
    assert again[1]["Idempotent-Replayed"] == "true" and Purchase.objects.filter(merchant_order_id="o-h").count() == 1
    status, _headers, _content = _call("GET", f"/api/v1/accounts/{account.pk}")  # no token
    assert status == 401
    assert layers == {"session": 0, "csrf": 0}


def test_the_back_office_keeps_every_layer(layers):
    status, headers, _content = _call("GET", "/admin/login/")
    assert status == 200 and "csrftoken" in headers.get("Set-Cookie", "")
    assert layers["session"] == 1 and layers["csrf"] == 1
