"""Data and helpers of the review-queue admin tests: applicants that land in review, staff
per role, a logged-in client, a snapshot of what a decision may change."""

from __future__ import annotations

import importlib
from datetime import date
from decimal import Decimal

from django.contrib.auth.models import Group, Permission, User
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEvent, CreditAccount
from risk.models import Application, ReviewCase
from risk.rules import id_check_char
from risk.services.applications import ApplicantData, application_submit

BUSINESS_DATE = date(2026, 11, 20)
STAFF_GROUPS = importlib.import_module("accounts.migrations.0003_staff_groups").GROUPS

CHANGELIST = reverse("admin:risk_reviewcase_changelist")
CLAIM_NEXT = reverse("admin:risk_reviewcase_claim_next")


def id_number(n: int) -> str:
    first17 = f"11010519491231{n:03d}"
    return first17 + id_check_char(first17)


def applicant(n: int, **overrides) -> ApplicantData:
    """Borderline: 300 + 120 (≥36 months) + 40 (5 orders) + 40 (3,000.00) + 30 (0.10 returns)
    + 30 (no history) = 560 → in review with BORDERLINE_SCORE, scorecard limit 2,000."""
    data = {
        "external_id": f"c-{n}", "name": f"Applicant {n}", "id_number": id_number(n), "phone": f"139{n:08d}",
        "store_status": "normal", "store_since": date(2020, 1, 1), "orders_12m": 5,
        "spend_12m": Decimal("3000.00"), "return_rate": Decimal("0.10"),
    }
    data.update(overrides)
    return ApplicantData(**data)


def strong(n: int, **overrides) -> ApplicantData:
    """300 + 120 + 110 + 110 + 60 + 30 = 730 → limit 20,000 (approved unless flagged)."""
    return applicant(n, **{"store_since": date(2021, 3, 1), "orders_12m": 42, "spend_12m": Decimal("26800.00"),
                           "return_rate": Decimal("0.03"), **overrides})


def submit(data: ApplicantData) -> Application:
    return application_submit(kind="activation", applicant=data, card_token="tok_ok")


def review_case(n: int, **overrides) -> ReviewCase:
    application = submit(applicant(n, **overrides))
    assert application.status == "in_review", application.reasons
    return ReviewCase.objects.get(application=application)


def shared_phone_case(n: int) -> ReviewCase:
    """A strong profile (limit 20,000) flagged SHARED_PHONE: another customer has the phone."""
    assert submit(strong(900 + n, phone=f"137{n:08d}")).status == "approved"
    application = submit(strong(n, phone=f"137{n:08d}"))
    assert application.status == "in_review"
    assert application.flags == ["SHARED_PHONE"]
    assert application.proposed_limit == Decimal("20000.00")
    return ReviewCase.objects.get(application=application)


def group(name: str) -> Group:
    found = Group.objects.filter(name=name).first()
    if found is not None:
        return found
    created = Group.objects.create(name=name)  # flushed by a transactional test: rebuild it
    for label in STAFF_GROUPS[name]:
        app_label, codename = label.split(".")
        created.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return created


def staff(username: str, group_name: str | None, *perms: str, superuser: bool = False) -> User:
    user = User.objects.create_user(username=username, password="pw", is_staff=True, is_superuser=superuser)
    if group_name:
        user.groups.add(group(group_name))
    for label in perms:
        app_label, codename = label.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return User.objects.get(pk=user.pk)


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def case_url(case: ReviewCase, action: str = "") -> str:
    if action:
        return reverse(f"admin:risk_reviewcase_{action}", args=[case.pk])
    return reverse("admin:risk_reviewcase_change", args=[case.pk])


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def snapshot(case: ReviewCase) -> tuple:
    case.refresh_from_db()
    application = Application.objects.get(pk=case.application_id)
    return (case.status, case.claimed_by_id, case.proposed_limit, case.decision, case.decided_by_id,
            case.escalated, application.status, application.credit_limit, application.account_id,
            CreditAccount.objects.count(), AuditEvent.objects.count())
