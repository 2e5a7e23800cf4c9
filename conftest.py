"""Shared fixtures: staff users per role, API clients, and applicant profiles."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from accounts.services import api_client_create_or_rotate, business_date_set
from risk.rules import id_check_char

BUSINESS_DATE = date(2026, 11, 20)


def make_id_number(first17: str = "11010519491231002") -> str:
    return first17 + id_check_char(first17)


def applicant_payload(**overrides) -> dict:
    """A strong profile: 730 points under policy v1 → approved with 20,000."""
    customer = {
        "external_id": "u-1001", "name": "Li Lei", "id_number": "11010519491231002X",
        "phone": "13800000001", "store_status": "normal", "store_since": "2021-03-01",
        "orders_12m": 42, "spend_12m": "26800.00", "return_rate": "0.03",
    }
    card = overrides.pop("repayment_card_token", "tok_ok")
    kind = overrides.pop("kind", "activation")
    customer.update(overrides)
    return {"kind": kind, "customer": customer, "repayment_card_token": card}


@pytest.fixture
def business_date(db):
    business_date_set(new_date=BUSINESS_DATE, acting_user=None, reason="test")
    return BUSINESS_DATE


@pytest.fixture
def api(db, business_date) -> APIClient:
    _client, token = api_client_create_or_rotate(name="storefront")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def _staff(username: str, group: str) -> User:
    user = User.objects.create_user(username=username, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def reviewer(db):
    return _staff("reviewer", "Risk reviewer")


@pytest.fixture
def reviewer2(db):
    return _staff("reviewer2", "Risk reviewer")


@pytest.fixture
def manager(db):
    return _staff("manager", "Risk manager")


@pytest.fixture
def manager2(db):
    return _staff("manager2", "Risk manager")


@pytest.fixture
def agent(db):
    return _staff("agent", "CS agent")


__all__ = ["BUSINESS_DATE", "Decimal", "applicant_payload", "make_id_number"]
