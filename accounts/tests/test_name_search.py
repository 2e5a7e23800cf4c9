"""Customers found by the start of their name in the back office (accounts/name_search.py,
decision 0033): case-insensitive, width and spacing normalised, any script; an indexed prefix
match (the plan uses ``customer_name_prefix``); results masked as the list masks them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Customer
from accounts.name_search import customers_named, name_starts_with, name_term
from conftest import upsert_customer

pytestmark = pytest.mark.django_db

CUSTOMERS = reverse("admin:accounts_customer_changelist")


def customer(n: int, name: str, id_number: str = "11010519491231002X") -> Customer:
    return upsert_customer(external_id=f"s-{n}", name=name, id_number=id_number, phone=f"1390000{n:04d}",
                           store_status="normal", store_since=date(2020, 1, 1), orders_12m=3,
                           spend_12m=Decimal("900.00"), return_rate=Decimal("0.01"))


@pytest.fixture
def people(db) -> dict[str, Customer]:
    return {name: customer(n, name) for n, name in enumerate(
        ["Li Lei", "Li Na", "Lin Tao", "Wei Lan", "王小明", "王芳", "小王", "O'Brien_1%"])}


def found(term: str) -> list[str]:
    query = name_term(term)
    assert query is not None
    return sorted(customers_named(Customer.objects.all()).filter(name_starts_with(query))
                  .values_list("name", flat=True))


def test_the_start_of_the_name_in_any_case_width_or_spacing(people):
    assert found("li") == ["Li Lei", "Li Na", "Lin Tao"]
    assert found(" li ") == found("li")  # spaces around the term do not count
    assert found("LI  lei") == ["Li Lei"]
    assert found("ｌｉ ｌｅｉ") == ["Li Lei"]  # full-width letters, as a Chinese keyboard may type them
    assert found("王") == ["王小明", "王芳"]
    assert found("王小明") == ["王小明"]
    assert found("小明") == []  # a given name alone is not the start of the name
    assert found("O'Brien_1%") == ["O'Brien_1%"]
    assert found("O'Brien_") == ["O'Brien_1%"]
    assert found("O'Brien%") == []  # % and _ are letters to look for, never wildcards


@pytest.mark.parametrize("term", ["", "   ", "12345", "+8613900000001", "11010519491231002X", "x" * 101])
def test_terms_that_cannot_be_a_name(term):
    assert name_term(term) is None


def test_the_match_is_an_index_range_scan(people):
    query = customers_named(Customer.objects.all()).filter(name_starts_with("LI L"))
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "customer_name_prefix" in plan, plan
    assert "Index Cond" in plan, plan


def test_the_customer_list_finds_names_and_still_masks(people):
    admin = User.objects.create_superuser("root", password="pw")
    client = Client()
    client.force_login(admin)

    response = client.get(CUSTOMERS, {"q": "li l"})

    assert response.status_code == 200
    assert [c.name for c in response.context["cl"].result_list] == ["Li Lei"]
    html = response.content.decode()
    assert "110***********002X" in html and "11010519491231002X" not in html
    assert "139****0000" in html and "13900000000" not in html
    # the other searches still work: store id, phone, full ID number
    assert len(client.get(CUSTOMERS, {"q": "s-3"}).context["cl"].result_list) == 1
    assert len(client.get(CUSTOMERS, {"q": "13900000004"}).context["cl"].result_list) == 1
    assert len(client.get(CUSTOMERS, {"q": "11010519491231002x"}).context["cl"].result_list) == len(people)
    assert client.get(CUSTOMERS, {"q": "%%%"}).status_code == 200
