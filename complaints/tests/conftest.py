"""Fixtures of the complaint tests: the complaint grants, a frozen wall clock at the business
date, and staff per role (the root conftest provides ``agent``, ``manager``, ``reviewer``)."""

from __future__ import annotations

import pytest
import time_machine

from .helpers import START, at, ensure_grants, staff


@pytest.fixture(autouse=True)
def _complaint_world(request):
    if request.node.get_closest_marker("django_db") is None and "db" not in request.fixturenames:
        yield None
        return
    request.getfixturevalue("business_date")
    ensure_grants()
    with time_machine.travel(at(START), tick=False) as traveller:
        yield traveller


@pytest.fixture
def clock(_complaint_world):
    """The frozen wall clock (``clock.shift(timedelta)`` / ``clock.move_to(dt)``)."""
    return _complaint_world


@pytest.fixture
def supervisor(db):
    return staff("supervisor", "CS supervisor")


@pytest.fixture
def agent2(db):
    return staff("agent2", "CS agent")
