"""The review-queue admin tests' data: policy v1 and the business date, staff per role."""

from __future__ import annotations

import pytest

from accounts.business_day import business_date_set
from risk.models import PolicyStatus, ScoringPolicy
from risk.policy import DEFAULT_POLICY

from .review_helpers import BUSINESS_DATE, staff


@pytest.fixture(autouse=True)
def reference_data(db):
    """Policy v1 and the business date. A transactional test elsewhere may have flushed the
    migration data, so v1 is recreated when missing."""
    if not ScoringPolicy.objects.filter(status=PolicyStatus.ACTIVE).exists():
        ScoringPolicy.objects.create(version=1, status=PolicyStatus.ACTIVE, params=DEFAULT_POLICY.to_json())
    business_date_set(new_date=BUSINESS_DATE, acting_user=None, reason="test")


@pytest.fixture
def reviewer():
    return staff("reviewer", "Risk reviewer")


@pytest.fixture
def reviewer2():
    return staff("reviewer2", "Risk reviewer")


@pytest.fixture
def manager():
    return staff("manager", "Risk manager")


@pytest.fixture
def manager2():
    return staff("manager2", "Risk manager")


@pytest.fixture
def agent():
    # The "CS agent" group lacks risk.view_reviewcase (accounts/migrations/0003); the queue's
    # view permission is granted explicitly until the group migration carries it.
    return staff("agent", "CS agent", "risk.view_reviewcase")
