"""The storefront API authenticates by token and keeps no session: a purchase request writes
no session row and sets no session cookie (found by bench/api.py: every API request used to
save a new django_session row, because the session-timeout middleware took the request's
ApiClient for a staff login). A staff login still starts its session clock."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from accounts.lifecycle import credit_line
from accounts.security import LOGIN_AT
from config.api.clients import api_client_create_or_rotate
from conftest import upsert_customer
from installments.models import Purchase
from risk.models import ScoringPolicy

pytestmark = pytest.mark.django_db


def test_api_purchases_write_no_session(business_date):
    customer = upsert_customer(external_id="ns-1", name="Zhao Liu", id_number="11010519491231002X",
                               phone="13500009999", store_status="normal", store_since=date(2020, 1, 1),
                               orders_12m=10, spend_12m=Decimal("9000.00"), return_rate=Decimal("0.01"))
    with transaction.atomic():
        account = credit_line.open_account(customer=customer, credit_limit=Decimal("1000.00"), card_token="tok_ok",
                                      policy_version_id=ScoringPolicy.objects.get(status="active").pk,
                                      reason_code="ACCOUNT_OPENED", acting_user=None)
    _client, token = api_client_create_or_rotate(name="storefront")
    for n in range(3):
        api = APIClient()  # a fresh client each time: the storefront keeps no cookie
        api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        response = api.post(f"/api/v1/accounts/{account.pk}/purchases",
                            {"merchant_order_id": f"o-{n}", "amount": "10.00", "installments": 3}, format="json",
                            HTTP_IDEMPOTENCY_KEY=f"k-{n}")
        assert response.status_code == 201, response.content
        assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert Purchase.objects.filter(account=account).count() == 3
    assert Session.objects.count() == 0


def test_a_staff_login_still_starts_its_session_clock(db):
    user = User.objects.create_user(username="staff1", password="pw-for-tests-only", is_staff=True)
    client = Client()
    client.force_login(user)
    assert client.get("/admin/").status_code == 200
    session = Session.objects.get(session_key=client.cookies[settings.SESSION_COOKIE_NAME].value)
    assert LOGIN_AT in session.get_decoded()
