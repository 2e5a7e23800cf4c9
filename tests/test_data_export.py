"""The customer's data export for a ``data_privacy`` complaint: everything Tally holds, with
personal data masked, only for the agent handling the complaint (or a supervisor), audited,
refused for any other category — through the service and the complaint page."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.errors import BusinessRuleRefused, PermissionRefused
from accounts.models import AuditEvent, CreditAccount
from complaints.services.complaints import complaint_add_note, complaint_reply
from complaints.services.data_export import customer_data_export
from complaints.tests.helpers import START, at, buy, client_for, ensure_grants, file, repay, staff, working, world
from risk.services.applications import ApplicantData, application_submit

pytestmark = pytest.mark.django_db

ID_NUMBER = "11010519491231002X"


@pytest.fixture(autouse=True)
def _world(business_date):
    ensure_grants()
    with time_machine.travel(at(START), tick=False):
        yield


@pytest.fixture
def supervisor(db):
    return staff("supervisor", "CS supervisor")


@pytest.fixture
def customer_account(db) -> CreditAccount:
    """An approved applicant (730 points) who bought twice and repaid once."""
    application = application_submit(kind="activation", card_token="tok_ok_1234", applicant=ApplicantData(
        external_id="u-77", name="Han Meimei", id_number=ID_NUMBER, phone="13800001234", store_status="normal",
        store_since=date(2021, 3, 1), orders_12m=42, spend_12m=Decimal("26800.00"), return_rate=Decimal("0.03")))
    assert application.status == "approved"
    account = CreditAccount.objects.get(pk=application.account_id)
    buy(account, amount="300.00", periods=3, order="o-1")
    buy(account, amount="120.00", periods=1, order="o-2")
    repay(account, "150.00")
    return account


def privacy_complaint(account, agent):
    complaint = working(file(account, category="data_privacy"), agent)
    complaint_add_note(complaint_id=complaint.pk, body="checked identity by phone call", acting_user=agent)
    complaint_reply(complaint_id=complaint.pk, body="We are preparing your data.", acting_user=agent)
    return complaint


def test_the_handling_agent_exports_everything_with_personal_data_masked(customer_account, agent):
    complaint = privacy_complaint(customer_account, agent)
    audit_before = AuditEvent.objects.count()

    data = customer_data_export(complaint_id=complaint.pk, acting_user=agent)

    text = json.dumps(data, default=str)
    assert ID_NUMBER not in text and "13800001234" not in text and "tok_ok_1234" not in text
    assert "id_number_hash" not in text and "id_number_encrypted" not in text
    assert data["customer"]["external_id"] == "u-77"
    assert data["customer"]["id_number"] == "110***********002X"
    assert data["customer"]["phone"] == "138****1234"
    assert [a["id_number_masked"] for a in data["applications"]] == ["110***********002X"]
    assert data["applications"][0]["phone"] == "138****1234"
    assert data["applications"][0]["repayment_card_token"] == "*******1234"
    assert data["credit_account"]["id"] == customer_account.pk
    assert data["credit_account"]["repayment_card_token"] == "*******1234"
    assert sorted(p["merchant_order_id"] for p in data["purchases"]) == ["o-1", "o-2"]
    assert len(data["installments"]) == 4
    assert [r["amount"] for r in data["repayments"]] == [Decimal("150.00")]
    assert len(data["repayment_allocations"]) >= 1
    assert [c["id"] for c in data["complaints"]] == [complaint.pk]
    assert [m["body"] for m in data["complaint_messages"]] == ["We are preparing your data."]  # no internal note
    assert {n["kind"] for n in data["notifications"]} >= {"application_result"}
    assert [(c["from_status"], c["to_status"]) for c in data["status_changes"]] == [("", "active")]
    assert len(data["limit_changes"]) == 1

    events = AuditEvent.objects.filter(pk__gt=0).order_by("-id")
    assert AuditEvent.objects.count() == audit_before + 1
    event = events.first()
    assert (event.action, event.actor, event.object_id) == ("complaint.data_exported", agent, str(complaint.pk))
    assert event.after["sections"]["purchases"] == 2


def test_a_supervisor_may_export_a_complaint_assigned_to_an_agent(customer_account, agent, supervisor):
    complaint = privacy_complaint(customer_account, agent)
    data = customer_data_export(complaint_id=complaint.pk, acting_user=supervisor)
    assert data["customer"]["external_id"] == "u-77"
    assert AuditEvent.objects.filter(action="complaint.data_exported", actor=supervisor).count() == 1


def test_the_export_is_refused_for_any_other_category_and_changes_nothing(customer_account, agent):
    complaint = working(file(customer_account, category="billing_dispute"), agent)
    before = world()
    with pytest.raises(BusinessRuleRefused) as refused:
        customer_data_export(complaint_id=complaint.pk, acting_user=agent)
    assert refused.value.code == "not_a_data_privacy_complaint"
    assert world() == before


@pytest.mark.parametrize("role", ["other agent", "Risk reviewer", "Risk manager", "Operations"])
def test_only_the_handler_may_export_and_a_refusal_changes_nothing(customer_account, agent, role):
    complaint = privacy_complaint(customer_account, agent)
    other = staff("someone", "CS agent" if role == "other agent" else role)
    before = world()
    with pytest.raises(PermissionRefused):
        customer_data_export(complaint_id=complaint.pk, acting_user=other)
    assert world() == before


def test_the_complaint_page_offers_the_download_and_serves_the_json(customer_account, agent):
    complaint = privacy_complaint(customer_account, agent)
    client = client_for(agent)
    page = client.get(reverse("admin:complaints_complaint_change", args=[complaint.pk])).content.decode()
    assert 'id="data-export"' in page

    response = client.post(reverse("admin:complaints_complaint_data_export", args=[complaint.pk]))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == (
        f'attachment; filename="tally-customer-data-u-77-complaint-{complaint.pk}.json"')
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert ID_NUMBER not in body
    data = json.loads(body)
    assert data["format"] == "tally.customer-data-export/1"
    assert data["customer"]["id_number"] == "110***********002X"
    assert AuditEvent.objects.filter(action="complaint.data_exported", actor=agent).count() == 1


def test_the_page_refuses_the_export_of_another_category(customer_account, agent):
    complaint = working(file(customer_account, category="fee_dispute"), agent)
    client = client_for(agent)
    page = client.get(reverse("admin:complaints_complaint_change", args=[complaint.pk])).content.decode()
    assert 'id="data-export"' not in page
    before = world()
    response = client.post(reverse("admin:complaints_complaint_data_export", args=[complaint.pk]))
    assert response.status_code == 302
    assert [m.message for m in get_messages(response.wsgi_request)] == [
        "A data export is made only for a personal-data complaint."]
    assert world() == before
