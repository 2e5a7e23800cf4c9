"""Idempotency-Key semantics of docs/api.md on every POST."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from config.api import idempotency
from config.api.clients import api_client_create_or_rotate
from config.api.models import ApiClient, IdempotencyRecord
from conftest import applicant_payload
from risk.models import Application

pytestmark = pytest.mark.django_db


def post(api, payload, key):
    return api.post("/api/v1/applications", payload, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_same_key_same_body_replays_the_first_response(api):
    first = post(api, applicant_payload(), "k-1")
    second = post(api, applicant_payload(), "k-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Application.objects.count() == 1


def test_same_key_different_body_is_409_and_changes_nothing(api):
    post(api, applicant_payload(), "k-2")
    response = post(api, applicant_payload(orders_12m=1), "k-2")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Application.objects.count() == 1


def test_error_responses_are_replayed_too(api):
    post(api, applicant_payload(), "k-3")
    conflict = post(api, applicant_payload(), "k-4")
    assert conflict.status_code == 409
    again = post(api, applicant_payload(), "k-4")
    assert again.status_code == 409 and again["Idempotent-Replayed"] == "true"
    assert again.json() == conflict.json()


def test_keys_are_per_client(api):
    post(api, applicant_payload(), "shared")
    _client, token = api_client_create_or_rotate(name="other-storefront")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = post(other, applicant_payload(external_id="u-9", phone="13900000009"), "shared")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response


@pytest.mark.parametrize("key", ["", "x" * 256])
def test_key_length_is_checked(api, key):
    response = post(api, applicant_payload(), key)
    assert response.status_code == 400
    assert Application.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0


def test_invalid_body_with_a_key_is_stored_and_replayed_without_writing(api):
    bad = applicant_payload(spend_12m=1.5)
    first = post(api, bad, "k-bad")
    second = post(api, bad, "k-bad")
    assert first.status_code == second.status_code == 400
    assert second["Idempotent-Replayed"] == "true"
    assert Application.objects.count() == 0


def test_in_progress_key_is_409_request_in_progress(api):
    client = ApiClient.objects.get(name="storefront")
    request_hash = "0" * 64
    IdempotencyRecord.objects.create(client=client, key="busy", method="POST", path="/api/v1/applications",
                                     request_hash=request_hash, locked_until=timezone.now() + timedelta(minutes=1))

    original = idempotency._fingerprint
    idempotency._fingerprint = lambda request, data: request_hash
    try:
        response = post(api, applicant_payload(), "busy")
    finally:
        idempotency._fingerprint = original
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "request_in_progress"
    assert Application.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_book_once(transactional_db, business_date):
    _client, token = api_client_create_or_rotate(name="storefront-concurrent")
    barrier = threading.Barrier(6)
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def send():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        barrier.wait()
        try:
            response = post(client, applicant_payload(), "race")
            with lock:
                results.append((response.status_code, response.get("Idempotent-Replayed")))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Application.objects.count() == 1
    statuses = sorted(code for code, _ in results)
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    fresh = [r for r in results if r[0] == 201 and r[1] is None]
    assert len(fresh) == 1
