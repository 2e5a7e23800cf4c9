"""CSV exports (accounts.exports, decision 0034) on real PostgreSQL: exactly the rows the list
shows under its filters, every page; personal data masked; text a spreadsheet would run made
inert; a UTF-8 byte-order mark; one audit row per export; refused without the permission
(nothing written); a query count that does not grow with the rows."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.test import Client
from django.urls import reverse

from accounts.audit_trail import audit_record
from accounts.exports import BYTE_ORDER_MARK, spreadsheet_cell
from accounts.models import AuditEvent
from conftest import applicant_payload, id_number_for

pytestmark = [pytest.mark.django_db]

AUDIT_EXPORT = reverse("admin:accounts_auditevent_export_csv")
AUDIT_LIST = reverse("admin:accounts_auditevent_changelist")


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def read_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith(BYTE_ORDER_MARK)
    return list(csv.reader(io.StringIO(body[len(BYTE_ORDER_MARK):])))


def audit_events(n: int, action: str, reason: str = "why") -> None:
    with transaction.atomic():
        for i in range(n):
            audit_record(acting_user=None, action=action, object_type="tests.thing", object_id=str(i), reason=reason)


def test_a_spreadsheet_never_runs_a_cell():
    assert [spreadsheet_cell(v) for v in ["=1+1", "+86 138", "-2+3", "@SUM(A1)", "\t=x", "\r=x", "plain", "李雷"]] == [
        "'=1+1", "'+86 138", "'-2+3", "'@SUM(A1)", "'\t=x", "'\r=x", "plain", "李雷"]
    assert spreadsheet_cell(Decimal("-12.50")) == "-12.50"  # a number stays a number
    assert spreadsheet_cell(None) == ""


def test_the_audit_trail_exports_exactly_the_filtered_rows_neutralised_and_audited(manager):
    audit_events(3, "tests.wanted", reason='=HYPERLINK("http://evil","click") 退款')
    audit_events(2, "tests.other")
    client = logged_in(manager)
    listed = client.get(AUDIT_LIST, {"action": "tests.wanted"})
    assert listed.status_code == 200
    assert f'{AUDIT_EXPORT}?action=tests.wanted' in listed.content.decode()  # the button keeps the filters
    before = AuditEvent.objects.count()
    response = client.get(AUDIT_EXPORT, {"action": "tests.wanted"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="tally-audit-events-')
    rows = read_csv(response)
    assert rows[0] == ["created at", "who", "action", "object type", "object id", "before", "after", "reason"]
    assert sorted(r[4] for r in rows[1:]) == ["0", "1", "2"]
    assert {r[2] for r in rows[1:]} == {"tests.wanted"}
    assert {r[7] for r in rows[1:]} == {'\'=HYPERLINK("http://evil","click") 退款'}
    export = AuditEvent.objects.get(action="export_csv")
    assert AuditEvent.objects.count() == before + 1
    assert (export.actor, export.object_type, export.object_id) == (manager, "export", "audit-events")
    assert export.after["rows"] == 3 and export.after["filters"] == {"action": "tests.wanted"}


def test_an_export_without_the_permission_is_refused_and_writes_nothing(db):
    auditor = User.objects.create_user("auditor", password="pw", is_staff=True)  # may read the trail, not export it
    auditor.user_permissions.add(Permission.objects.get(content_type__app_label="accounts", codename="view_auditevent"))
    audit_events(1, "tests.wanted")
    before = AuditEvent.objects.count()
    client = logged_in(auditor)
    assert client.get(AUDIT_LIST).status_code == 200
    assert AUDIT_EXPORT not in client.get(AUDIT_LIST).content.decode()  # no button
    assert client.get(AUDIT_EXPORT).status_code == 403
    assert AuditEvent.objects.count() == before


def test_bad_filters_redirect_with_a_message_and_export_nothing(manager):
    client = logged_in(manager)
    before = AuditEvent.objects.count()
    response = client.get(AUDIT_EXPORT, {"no_such_field__gt": "x"})
    assert response.status_code == 302 and response["Location"] == AUDIT_LIST
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("rows", [5, 60])
def test_an_export_costs_the_same_queries_whatever_the_rows(manager, django_assert_num_queries, rows):
    audit_events(rows, "tests.counted")
    client = logged_in(manager)
    client.get(AUDIT_LIST)  # the session and permissions warmed
    # session, user, staff profile (language), permissions (user's, groups'), the count, the audit
    # row (savepoint, insert, release: the test's transaction), the server-side cursor's DECLARE
    with django_assert_num_queries(EXPORT_QUERIES):
        response = client.get(AUDIT_EXPORT, {"action": "tests.counted"})
        assert len(read_csv(response)) == rows + 1


EXPORT_QUERIES = 10


def test_review_decisions_export_the_searched_applications_with_reasons_and_no_personal_data(api, manager):
    for n, external_id in enumerate(["u-7001", "u-7002"]):
        payload = applicant_payload(external_id=external_id, id_number=id_number_for(n + 40),
                                    phone=f"1390000{n:04d}")
        assert api.post("/api/v1/applications", payload, format="json").status_code == 201
    client = logged_in(manager)
    response = client.get(reverse("admin:risk_application_export_csv"), {"q": "u-7002"})
    assert response.status_code == 200
    rows = read_csv(response)
    assert rows[0][:6] == ["application", "submitted at", "business date", "store customer id", "kind", "status"]
    assert [r[3] for r in rows[1:]] == ["u-7002"]
    body = ",".join(rows[1])
    assert "Li Lei" not in body and "1390000" not in body  # no name, no phone
    assert rows[1][5] == "approved"
