"""API v1.1 tokens (docs/api.md, "Scopes", "Revocation and expiry", "Rate limit"): scopes per
client, a read-only client refused on every write, revoked and expired tokens refused 401,
``last_used_at``, and the per-client throttle answering 429 with ``Retry-After``."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditEvent, Notification
from complaints.models import ClosureRequest, Complaint
from config.api.auth import READ_METHODS
from config.api.clients import api_client_create_or_rotate, api_client_revoke
from config.api.models import SCOPES, ApiClient, IdempotencyRecord
from conftest import applicant_payload
from installments.models import Purchase, Refund, Repayment
from risk.models import Application

pytestmark = pytest.mark.django_db
WRITES = ("post", "put", "patch", "delete")


def client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def api_views() -> list[tuple[str, type]]:
    """(route, view class) of every endpoint under /api/v1/."""
    found: list[tuple[str, type]] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and hasattr(pattern.callback, "view_class"):
                found.append((prefix + str(pattern.pattern), pattern.callback.view_class))

    walk(get_resolver().url_patterns, "/")
    return [(route, view) for route, view in found if route.startswith("/api/v1/")]


def test_every_write_endpoint_declares_a_known_scope():
    """A write endpoint without ``required_scope`` would be refused to every client (fail
    closed): this keeps new endpoints honest."""
    writes = [(route, view) for route, view in api_views() if any(hasattr(view, m) for m in WRITES)]
    assert len(writes) >= 7
    for route, view in writes:
        assert getattr(view, "required_scope", None) in SCOPES, f"{route} ({view.__name__}) declares no required_scope"


@pytest.fixture
def world(business_date):
    """An account with a purchase, made by a client holding every scope."""
    _client, token = api_client_create_or_rotate(name="storefront")
    full = client_with(token)
    application = full.post("/api/v1/applications", applicant_payload(), format="json").json()
    account_id = application["account_id"]
    purchase = full.post(f"/api/v1/accounts/{account_id}/purchases",
                         {"merchant_order_id": "o-1", "amount": "300.00", "installments": 3}, format="json").json()
    return {"full": full, "account_id": account_id, "purchase_id": purchase["id"], "application_id": application["id"]}


def written() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (Application, Purchase, Refund, Repayment, ClosureRequest, Complaint,
                                                     IdempotencyRecord, AuditEvent, Notification))


def test_a_read_client_is_refused_every_write_and_nothing_is_written(world):
    _client, token = api_client_create_or_rotate(name="reporting", scopes=["read"])
    reader = client_with(token)
    account, purchase = world["account_id"], world["purchase_id"]
    posts = {
        "/api/v1/applications": applicant_payload(external_id="u-2", phone="13800000002"),
        f"/api/v1/accounts/{account}/purchases": {"merchant_order_id": "o-2", "amount": "10.00", "installments": 1},
        f"/api/v1/purchases/{purchase}/refunds": {"merchant_refund_id": "r-1", "amount": "10.00"},
        "/api/v1/statements/1/installment-plan": {"installments": 3},
        f"/api/v1/accounts/{account}/repayments": {"reference": "bank-1", "amount": "10.00"},
        f"/api/v1/accounts/{account}/closure-requests": {"channel": "app", "note": "close"},
        "/api/v1/complaints": {"customer_external_id": "u-1001", "category": "other", "channel": "app",
                               "description": "help"},
    }
    # every write route of the API is in the list (with its ids filled in)
    write_routes = {route for route, view in api_views() if any(hasattr(view, m) for m in WRITES)}
    covered = {route for route in write_routes
               if any(_matches(route, path) for path in posts)}
    assert covered == write_routes - _later_write_routes(write_routes), sorted(write_routes - covered)
    before = written()
    for path, body in posts.items():
        for key in (None, f"key-{path}"):
            headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
            response = reader.post(path, body, format="json", **headers)
            assert response.status_code == 403, (path, response.status_code, response.content)
            error = response.json()["error"]
            assert error["code"] == "insufficient_scope", path
            assert error["details"]["scopes"] == ["read"]
    assert written() == before
    # ... and reads work
    assert reader.get(f"/api/v1/accounts/{account}").status_code == 200
    assert reader.get(f"/api/v1/applications/{world['application_id']}").status_code == 200


def _matches(route: str, path: str) -> bool:
    parts, actual = route.strip("/").split("/"), path.strip("/").split("/")
    return len(parts) == len(actual) and all(p.startswith("<") or p == a for p, a in zip(parts, actual, strict=True))


def _later_write_routes(routes: set[str]) -> set[str]:
    """Write endpoints added after this test (their scope is checked by the test above)."""
    known = ("applications", "purchases", "refunds", "installment-plan", "repayments", "closure-requests", "complaints")
    return {route for route in routes if not route.rstrip("/").endswith(known)}


def test_a_client_without_the_read_scope_cannot_read(world):
    _client, token = api_client_create_or_rotate(name="writer", scopes=["purchases"])
    writer = client_with(token)
    response = writer.get(f"/api/v1/accounts/{world['account_id']}")
    assert response.status_code == 403
    assert response.json()["error"]["details"]["required_scope"] == "read"
    created = writer.post(f"/api/v1/accounts/{world['account_id']}/purchases",
                          {"merchant_order_id": "o-9", "amount": "10.00", "installments": 1}, format="json")
    assert created.status_code == 201


def test_revoked_and_expired_tokens_get_401(world):
    _client, token = api_client_create_or_rotate(name="shop-2")
    shop = client_with(token)
    url = f"/api/v1/accounts/{world['account_id']}"
    assert shop.get(url).status_code == 200
    call_command("revoke_api_client", "shop-2", stdout=StringIO())
    response = shop.get(url)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert shop.post(f"{url}/purchases", {"merchant_order_id": "o-3", "amount": "1.00", "installments": 1},
                     format="json").status_code == 401
    assert AuditEvent.objects.filter(action="api_client.revoked", object_id=str(_client.pk)).count() == 1
    # a routine rotation does not undo a revocation
    with pytest.raises(CommandError, match="revoked"):
        call_command("create_api_client", "shop-2", stdout=StringIO())
    out = StringIO()
    call_command("create_api_client", "shop-2", "--reactivate", stdout=out)
    assert client_with(out.getvalue().strip()).get(url).status_code == 200
    assert shop.get(url).status_code == 401  # the old token stays dead

    _expiring, token = api_client_create_or_rotate(name="shop-3", expires_at=timezone.now() - timedelta(seconds=1))
    assert client_with(token).get(url).status_code == 401


def test_last_used_at_is_noted(world):
    client, token = api_client_create_or_rotate(name="shop-4")
    assert client.last_used_at is None
    client_with(token).get(f"/api/v1/accounts/{world['account_id']}")
    client.refresh_from_db()
    assert client.last_used_at is not None and timezone.now() - client.last_used_at < timedelta(seconds=30)


def test_create_api_client_scopes_option():
    out = StringIO()
    call_command("create_api_client", "partner", "--scopes", "read,purchases", stdout=out)
    token = out.getvalue().strip()
    assert len(token) == 48 and "\n" not in token
    assert ApiClient.objects.get(name="partner").scopes == ["purchases", "read"]
    call_command("create_api_client", "partner", stdout=StringIO())  # rotation keeps the scopes
    assert ApiClient.objects.get(name="partner").scopes == ["purchases", "read"]
    call_command("create_api_client", "everything", stdout=StringIO())
    assert ApiClient.objects.get(name="everything").scopes == list(SCOPES)
    with pytest.raises(CommandError, match="unknown: payouts"):
        call_command("create_api_client", "bad", "--scopes", "read,payouts", stdout=StringIO())
    assert not ApiClient.objects.filter(name="bad").exists()
    with pytest.raises(CommandError, match="No API client"):
        call_command("revoke_api_client", "nobody", stdout=StringIO())


def test_a_client_over_its_rate_gets_429_with_retry_after(world, settings):
    caches[settings.API_THROTTLE_CACHE].clear()
    _client, token = api_client_create_or_rotate(name="busy", rate_per_minute=3)
    busy = client_with(token)
    url = f"/api/v1/accounts/{world['account_id']}"
    statuses = [busy.get(url).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = busy.get(url)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60
    # a throttled POST claims no Idempotency-Key: the same request later is answered for real
    keyed = busy.post(f"{url}/purchases", {"merchant_order_id": "o-5", "amount": "1.00", "installments": 1},
                      format="json", HTTP_IDEMPOTENCY_KEY="after-429")
    assert keyed.status_code == 429
    assert not IdempotencyRecord.objects.filter(key="after-429").exists()
    # other clients are counted apart
    assert world["full"].get(url).status_code == 200


def test_answers_from_an_idempotency_key_do_not_count_and_are_given_over_the_rate(world, settings):
    caches[settings.API_THROTTLE_CACHE].clear()
    _client, token = api_client_create_or_rotate(name="busy-keys", rate_per_minute=2)
    busy = client_with(token)
    url = f"/api/v1/accounts/{world['account_id']}/purchases"

    def buy(order: str, key: str):
        return busy.post(url, {"merchant_order_id": order, "amount": "1.00", "installments": 1}, format="json",
                         HTTP_IDEMPOTENCY_KEY=key)

    first = buy("o-k1", "k1")
    assert first.status_code == 201
    for _ in range(3):  # replays: answered from the key, not counted
        replay = buy("o-k1", "k1")
        assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
        assert replay.json() == first.json()
    reused = buy("o-other", "k1")  # the key with another body: 409, not counted either
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"
    assert buy("o-k2", "k2").status_code == 201  # the second request that counts
    purchases = Purchase.objects.count()
    over = buy("o-k3", "k3")  # the third: over the rate, nothing booked, no key kept
    assert over.status_code == 429 and over.json()["error"]["code"] == "throttled"
    assert Purchase.objects.count() == purchases
    assert not IdempotencyRecord.objects.filter(key="k3").exists()
    late_replay = buy("o-k1", "k1")  # over the rate, but its key has an answer: the answer
    assert late_replay.status_code == 201 and late_replay["Idempotent-Replayed"] == "true"
    assert late_replay.json() == first.json()
    assert Purchase.objects.count() == purchases


def test_the_throttle_lets_requests_through_when_its_cache_is_away(world, settings, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    cache = caches[settings.API_THROTTLE_CACHE]
    monkeypatch.setattr(cache, "add", broken)
    _client, token = api_client_create_or_rotate(name="busy-2", rate_per_minute=1)
    busy = client_with(token)
    assert [busy.get(f"/api/v1/accounts/{world['account_id']}").status_code for _ in range(3)] == [200, 200, 200]


def test_revoke_from_the_admin_is_audited(world):
    root = User.objects.create_superuser("root", password="pw")
    client, token = api_client_create_or_rotate(name="shop-5")
    browser = Client()
    browser.force_login(root)
    response = browser.post(reverse("admin:api_apiclient_changelist"),
                            {"action": "revoke", "_selected_action": [client.pk]})
    assert response.status_code == 302
    client.refresh_from_db()
    assert client.revoked_at is not None and not client.is_active
    event = AuditEvent.objects.get(action="api_client.revoked", object_id=str(client.pk))
    assert event.actor == root
    assert client_with(token).get(f"/api/v1/accounts/{world['account_id']}").status_code == 401
    # the admin page lists scopes, last use and revocation
    page = browser.get(reverse("admin:api_apiclient_changelist")).content.decode()
    assert "shop-5" in page and "purchases" in page


def test_api_client_revoke_is_idempotent():
    client, _token = api_client_create_or_rotate(name="twice")
    first = api_client_revoke(name="twice")
    second = api_client_revoke(name="twice")
    assert first.revoked_at == second.revoked_at
    assert AuditEvent.objects.filter(action="api_client.revoked", object_id=str(client.pk)).count() == 1


def test_reads_use_the_read_scope():
    assert {"GET", "HEAD", "OPTIONS"} == set(READ_METHODS)
