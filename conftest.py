"""Shared fixtures: staff users per role, API clients, and applicant profiles."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import transaction
from rest_framework.test import APIClient

from accounts.business_day import business_date_set
from accounts.customers import customer_upsert
from accounts.models import Customer
from config.api.clients import api_client_create_or_rotate
from config.cob import pipeline
from risk.models import ScoringPolicy
from risk.policy import DEFAULT_POLICY
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


_MIGRATED_GRANTS: dict[str, set[tuple[str, str]]] = {}


def ensure_reference_data() -> None:
    """What the data migrations create (policy v1, staff groups and every grant the later
    migrations add). A transactional test flushes every table afterwards, so later tests
    recreate them when missing: the groups' grants are taken from the database as the
    migrations left it, the first time a test asks (before any test could flush it)."""
    if not _MIGRATED_GRANTS:
        for name, app_label, codename in Group.permissions.through.objects.values_list(
                "group__name", "permission__content_type__app_label", "permission__codename"):
            _MIGRATED_GRANTS.setdefault(name, set()).add((app_label, codename))
    if not ScoringPolicy.objects.filter(status="active").exists():
        ScoringPolicy.objects.create(version=1, status="active", params=DEFAULT_POLICY.to_json())
    expected = sum(len(perms) for perms in _MIGRATED_GRANTS.values())
    if Group.permissions.through.objects.filter(group__name__in=list(_MIGRATED_GRANTS)).count() == expected:
        return
    for name, perms in _MIGRATED_GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*[Permission.objects.get(content_type__app_label=app_label, codename=codename)
                                for app_label, codename in sorted(perms)])


@pytest.fixture(autouse=True)
def _reference_data(request):
    marker = request.node.get_closest_marker("django_db")
    fixtures = set(request.fixturenames)
    if marker is None and not fixtures & {"db", "transactional_db"}:
        return
    transactional = "transactional_db" in fixtures or bool(marker and marker.kwargs.get("transaction"))
    request.getfixturevalue("transactional_db" if transactional else "db")
    ensure_reference_data()


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


def replace_step(monkeypatch, name: str, **changes) -> None:
    """Run the nightly close with step ``name`` changed (``select``, ``run``, …) for this test."""
    monkeypatch.setattr(pipeline, "STEPS", tuple(dataclasses.replace(step, **changes) if step.name == name else step
                                                 for step in pipeline.STEPS))


def id_number_for(n: int) -> str:
    """A valid resident ID number of its own for the ``n``-th test person (0 ≤ n < 28,000):
    customers with one ID number are one person to the rules (docs/rules.md §3)."""
    return make_id_number(f"110105{1949 + n // 28000:04d}01{1 + n // 1000 % 28:02d}{n % 1000:03d}")


def upsert_customer(**profile) -> Customer:
    """``customer_upsert`` in a transaction of its own (in the product it runs inside the
    application's transaction)."""
    with transaction.atomic():
        return customer_upsert(**profile)
