"""What each staff role may open, and what nobody may do whatever the role: ledger rows are
read-only for everyone in the admin and the database refuses raw UPDATE and DELETE of them;
a staff session does not open the storefront API (the rest of the matrix:
``test_permission_matrix``)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from accounts.models import JournalLine
from complaints.tests.helpers import open_account
from tests.test_permission_matrix import (  # noqa: F401 - _world: the autouse fixture
    ROLES,
    _world,
    account_setup,
    client_for,
    edited,
    make_user,
    rows,
    world_rows,
)

pytestmark = pytest.mark.django_db


# --- ledger rows: nobody, not even a superuser, edits or deletes them ---------------------------


@pytest.mark.parametrize("role", ROLES)
def test_nobody_changes_or_deletes_ledger_rows_in_the_admin(role: str):
    account = account_setup(make_user("superuser", "matrix-root"))["account"]
    line = JournalLine.objects.filter(credit_account=account).first()
    entry = line.entry
    client = client_for(make_user(role))
    before = world_rows()
    for url in (reverse("admin:accounts_journalline_change", args=[line.pk]),
                reverse("admin:accounts_journalline_delete", args=[line.pk]),
                reverse("admin:accounts_journalentry_change", args=[entry.pk]),
                reverse("admin:accounts_journalentry_delete", args=[entry.pk])):
        response = client.post(url, {"amount": "0.00", "book": "fee_income", "post": "yes"})
        assert response.status_code == 403, url
    assert client.post(reverse("admin:accounts_journalline_changelist"),
                       {"action": "delete_selected", "_selected_action": [line.pk], "post": "yes"}
                       ).status_code in (200, 302, 403)
    assert world_rows() == before
    assert client.get(reverse("admin:accounts_journalline_add")).status_code == 403


@pytest.mark.parametrize("statement", [
    "UPDATE accounts_journalline SET amount = amount + 1 WHERE id = %s",
    "DELETE FROM accounts_journalline WHERE id = %s",
    "UPDATE accounts_journalentry SET description = 'edited' WHERE id = (SELECT entry_id FROM "
    "accounts_journalline WHERE id = %s)",
    "DELETE FROM accounts_journalentry WHERE id = (SELECT entry_id FROM accounts_journalline WHERE id = %s)",
])
def test_the_database_refuses_raw_updates_and_deletes_of_ledger_rows(statement: str):
    account = account_setup(make_user("superuser", "matrix-root"))["account"]
    line = JournalLine.objects.filter(credit_account=account).first()
    before = world_rows()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [line.pk])
    assert world_rows() == before


# --- what each role may look at (docs/permissions.md, the view rows) -----------------------------

PAGES = {
    "applications": ("admin:risk_application_changelist", {"reviewer", "manager", "agent", "supervisor"}),
    "review queue": ("admin:risk_reviewcase_changelist", {"reviewer", "manager", "agent", "supervisor"}),
    "scoring policies": ("admin:risk_scoringpolicy_changelist", {"reviewer", "manager"}),
    "customers": ("admin:accounts_customer_changelist", {"reviewer", "manager", "agent", "supervisor"}),
    "credit accounts": ("admin:accounts_creditaccount_changelist", {"reviewer", "manager", "agent", "supervisor"}),
    "ledger lines": ("admin:accounts_journalline_changelist", {"reviewer", "manager", "agent", "supervisor"}),
    "collections queue": ("admin:accounts_creditaccount_collections", {"reviewer", "manager", "agent", "supervisor"}),
    "audit trail": ("admin:accounts_auditevent_changelist", {"manager", "supervisor"}),
    "close-of-business runs": ("admin:cob_cobrun_changelist", {"manager", "ops"}),
    "notifications": ("admin:accounts_notification_changelist", {"agent", "supervisor", "ops"}),
    "complaints": ("admin:complaints_complaint_changelist", {"agent", "supervisor"}),
    "complaint supervision": ("admin:complaints_complaint_supervisor", {"supervisor"}),
    "closure requests": ("admin:complaints_closurerequest_changelist", {"manager", "agent", "supervisor"}),
    "beat schedules": ("admin:django_celery_beat_periodictask_changelist", {"ops"}),
    "login lock-outs": ("admin:axes_accessattempt_changelist", set()),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", sorted(PAGES))
def test_who_sees_which_page(page: str, role: str):
    url_name, viewers = PAGES[page]
    response = client_for(make_user(role)).get(reverse(url_name))
    expected = 200 if role in viewers or role == "superuser" else 403
    assert response.status_code == expected


# --- the storefront API is not a staff door ------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_a_staff_session_does_not_open_the_api(role: str):
    account = open_account(1)
    client = client_for(make_user(role))
    before = world_rows()
    assert client.get(f"/api/v1/accounts/{account.pk}").status_code == 401
    response = client.post(f"/api/v1/accounts/{account.pk}/purchases",
                           {"merchant_order_id": "o-9", "amount": "10.00", "periods": 1},
                           content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 401
    assert world_rows() == before
