"""Money, personal data, business date, the outbox, API clients and the account state machine."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from accounts import money, notifications, pii
from accounts.business_day import business_date_get
from accounts.customers import customer_upsert, id_number_reveal
from accounts.errors import PermissionRefused
from accounts.lifecycle.credit_line import open_account
from accounts.models import AuditEvent, CreditAccount, Customer, Notification
from accounts.outbox import notification_enqueue
from config.api.clients import api_token_hash
from config.api.models import ApiClient
from risk.models import ScoringPolicy


def test_money_refuses_floats_and_extra_places():
    with pytest.raises(TypeError):
        money.to_money(1.5)
    with pytest.raises(ValueError):
        money.to_money("1.005")
    assert money.to_money("12.3") == Decimal("12.30")
    assert money.round_half_up(Decimal("0.605")) == Decimal("0.61")
    assert money.truncate(Decimal("33.3333")) == Decimal("33.33")
    assert money.round_down_to(Decimal("26850"), Decimal(100)) == Decimal("26800")
    assert money.round_up_to(Decimal("26801"), Decimal(100)) == Decimal("26900")


def test_masking():
    assert pii.mask_id_number("11010519491231002X") == "110***********002X"
    assert pii.mask_phone("13800000001") == "138****0001"


def test_keyed_hash_is_stable_and_keyed(settings):
    first = pii.keyed_hash("11010519491231002x")
    assert first == pii.keyed_hash("11010519491231002X")
    settings.TALLY_PII_HASH_KEY = "another-key"
    assert pii.keyed_hash("11010519491231002X") != first


@pytest.fixture
def customer(db):
    with transaction.atomic():  # customer_upsert runs inside the application's transaction
        return customer_upsert(external_id="c-1", name="Han Meimei", id_number="11010519491231002X",
                               phone="13800000001", store_status="normal", store_since=date(2020, 1, 1),
                               orders_12m=3, spend_12m=Decimal("500.00"), return_rate=Decimal("0.01"))


@pytest.fixture
def account(customer, business_date):
    with transaction.atomic():
        return open_account(customer=customer, credit_limit=Decimal("5000.00"), card_token="tok_ok",
                                            policy_version_id=ScoringPolicy.objects.get(version=1).pk,
                                            reason_code="ACCOUNT_OPENED", acting_user=None)


def test_id_number_reveal_needs_the_permission_and_is_logged(customer, agent, django_user_model):
    with pytest.raises(PermissionRefused):
        id_number_reveal(customer=customer, acting_user=agent)
    assert not AuditEvent.objects.filter(action="pii.id_number_viewed").exists()
    privileged = django_user_model.objects.create_user("dpo", is_staff=True)
    privileged.user_permissions.add(Permission.objects.get(codename="view_full_id_number"))
    privileged = django_user_model.objects.get(pk=privileged.pk)
    assert id_number_reveal(customer=customer, acting_user=privileged, purpose="complaint 7") == \
        "11010519491231002X"
    event = AuditEvent.objects.get(action="pii.id_number_viewed")
    assert event.actor == privileged and event.object_id == str(customer.pk) and event.reason == "complaint 7"


def test_business_date_command(business_date):
    out = StringIO()
    call_command("business_date", stdout=out)
    assert out.getvalue().strip() == "2026-11-20"


def test_fresh_database_starts_at_today(db):
    assert business_date_get() == timezone.localdate()


def test_create_api_client_prints_only_the_token_and_rotates(db):
    out = StringIO()
    call_command("create_api_client", "shop", stdout=out)
    token = out.getvalue().strip()
    assert len(token) == 48 and "\n" not in token
    client = ApiClient.objects.get(name="shop")
    assert client.token_hash == api_token_hash(token)
    out2 = StringIO()
    call_command("create_api_client", "shop", stdout=out2)
    assert out2.getvalue().strip() != token
    assert ApiClient.objects.count() == 1


def test_account_state_machine(account):
    assert account.status == "active"
    account.suspend()
    account.reactivate()
    account.freeze()
    with pytest.raises(TransitionNotAllowed):
        account.suspend()
    account.unfreeze()
    account.close()
    for refused in (account.suspend, account.freeze, account.reactivate, account.close):
        with pytest.raises(TransitionNotAllowed):
            refused()
    account.reopen()
    assert account.status == "active"
    with pytest.raises(AttributeError):
        account.status = "closed"  # protected: only transitions move it


def test_database_refuses_a_negative_available_limit(account):
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.filter(pk=account.pk).update(available_limit=Decimal("-0.01"))
    account.refresh_from_db()
    assert account.available_limit == Decimal("5000.00")


def test_audit_rows_are_append_only(account):
    event = AuditEvent.objects.filter(object_id=str(account.pk)).first()
    with pytest.raises(Exception, match=r"audit_append_only|Cannot"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(reason="tampered")
    with pytest.raises(Exception, match=r"audit_append_only|Cannot"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).reason == event.reason


def test_opening_records_status_and_limit_history(account):
    assert list(account.status_changes.values_list("to_status", "reason_code")) == [("active", "ACCOUNT_OPENED")]
    change = account.limit_changes.get()
    assert (change.old_limit, change.new_limit) == (Decimal("0.00"), Decimal("5000.00"))
    assert change.policy_version.version == 1


@pytest.mark.django_db(transaction=True)
def test_notification_is_delivered_after_commit_and_at_most_once(customer, caplog, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with transaction.atomic():
        note = notification_enqueue(customer=customer, kind="application_result", event_key="e-1",
                                    params={"status": "approved", "credit_limit": "2000.00", "reasons": []})
        # inside the transaction nothing was sent yet
        assert Notification.objects.get(pk=note.pk).status == "pending"
    note.refresh_from_db()
    assert note.status == "sent" and note.channel == "log"
    assert "2000.00" in note.rendered
    # the same event again is the same notification, not sent again
    with transaction.atomic():
        again = notification_enqueue(customer=customer, kind="application_result", event_key="e-1", params={})
    assert again.pk == note.pk
    assert notifications.deliver(note.pk) == "skipped"
    assert Notification.objects.filter(event_key="e-1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_sends_nothing(customer):
    with pytest.raises(RuntimeError), transaction.atomic():
        notification_enqueue(customer=customer, kind="application_result", event_key="e-2",
                             params={"status": "rejected", "reasons": []})
        raise RuntimeError("rollback")
    assert not Notification.objects.filter(event_key="e-2").exists()


def test_notification_renders_in_the_customers_language(customer):
    customer.language = "en"
    customer.save()
    note = Notification(customer=customer, kind="application_result",
                        params={"status": "approved", "credit_limit": "2000.00", "reasons": []})
    assert notifications.render(note) == "Your credit line is active with a limit of 2000.00 CNY."


def test_customer_id_number_is_encrypted(customer):
    row = Customer.objects.values("id_number_encrypted", "id_number_masked").get(pk=customer.pk)
    assert "11010519491231002X" not in row["id_number_encrypted"]
    assert row["id_number_masked"] == "110***********002X"


@pytest.mark.parametrize(("kind", "params", "text"), [
    ("limit_restored", {"restored": "100.00", "available_limit": "900.00"},
     "We received your payment. 100.00 CNY of your limit is back; available now: 900.00 CNY."),
    ("limit_held", {"held": "50.00", "release_at": "2026-11-23T10:00:00+08:00", "available_limit": "700.00"},
     "We received your payment. 50.00 CNY of your limit will be available again at 2026-11-23T10:00:00+08:00; "
     "available now: 700.00 CNY."),
    ("debit_failed", {"amount": "101.80", "retry_on": "2026-12-21", "card_closed": False},
     "We could not collect 101.80 CNY. We will try again on 2026-12-21."),
    ("debit_failed", {"amount": "101.80", "retry_on": "", "card_closed": True},
     "We could not collect 101.80 CNY: your repayment card is closed. Please add a new card."),
    ("overdue_warning", {"days_past_due": 4},
     "Your payment is 4 days overdue; your credit line is paused until it is paid. Late fees apply."),
    ("limit_changed", {"old_limit": "1000.00", "new_limit": "1200.00"},
     "Your credit limit changed from 1000.00 to 1200.00 CNY."),
])
def test_every_notification_kind_renders(customer, kind, params, text):
    customer.language = "en"
    assert notifications.render(Notification(customer=customer, kind=kind, params=params)) == text
