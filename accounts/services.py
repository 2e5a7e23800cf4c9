"""Writes for customers, accounts, the business date, the audit trail and the outbox."""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from .models import (
    AccountStatusChange,
    ApiClient,
    AuditEvent,
    BusinessCalendar,
    CreditAccount,
    Customer,
    LimitChange,
    Notification,
)

# --- business date -------------------------------------------------------------------


def business_date_get() -> date:
    """The current business date; a fresh database starts at today's date (Asia/Shanghai)."""
    calendar = BusinessCalendar.objects.filter(pk=1).only("current_date").first()
    if calendar is not None:
        return calendar.current_date
    calendar, _ = BusinessCalendar.objects.get_or_create(pk=1, defaults={"current_date": timezone.localdate()})
    return calendar.current_date


def business_date_set(*, new_date: date, acting_user: AbstractBaseUser | None, reason: str) -> date:
    with transaction.atomic():
        business_date_get()
        calendar = BusinessCalendar.objects.select_for_update().get(pk=1)
        before = calendar.current_date
        calendar.current_date = new_date
        calendar.save(update_fields=["current_date", "updated_at"])
        audit_record(acting_user=acting_user, action="business_date.set", obj=calendar,
                     before={"date": str(before)}, after={"date": str(new_date)}, reason=reason)
    return new_date


# --- audit ---------------------------------------------------------------------------


def audit_record(*, acting_user: AbstractBaseUser | None, action: str, obj: Any = None,
                 object_type: str = "", object_id: str = "", before: dict | None = None,
                 after: dict | None = None, reason: str = "") -> AuditEvent:
    """Write one audit row; call inside the transaction of the change it records."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    return AuditEvent.objects.create(
        actor=acting_user if getattr(acting_user, "pk", None) else None,
        actor_label=getattr(acting_user, "username", "") if acting_user else "system",
        action=action, object_type=object_type, object_id=object_id,
        before=before or {}, after=after or {}, reason=reason or "",
    )


def id_number_reveal(*, customer: Customer, acting_user: AbstractBaseUser, purpose: str = "") -> str:
    """The clear ID number for a holder of ``accounts.view_full_id_number``; the view is logged."""
    from .errors import PermissionRefused

    if not acting_user.has_perm("accounts.view_full_id_number"):
        raise PermissionRefused(gettext_lazy("You may not view full ID numbers."))
    with transaction.atomic():
        audit_record(acting_user=acting_user, action="pii.id_number_viewed", obj=customer, reason=purpose)
    return customer.reveal_id_number()


# --- customers and accounts ------------------------------------------------------------


def _customer_snapshot(customer: Customer) -> dict[str, str]:
    """What the audit trail keeps of a customer's profile: personal data masked."""
    from .pii import mask_phone

    return {"name": customer.name, "id_number": customer.id_number_masked, "phone": mask_phone(customer.phone),
            "store_status": customer.store_status, "store_since": str(customer.store_since),
            "orders_12m": str(int(customer.orders_12m)), "spend_12m": f"{Decimal(customer.spend_12m):.2f}",
            "return_rate": f"{Decimal(customer.return_rate):.4f}"}


def customer_upsert(*, external_id: str, name: str, id_number: str, phone: str, store_status: str,
                    store_since: date, orders_12m: int, spend_12m: Decimal, return_rate: Decimal,
                    acting_user: AbstractBaseUser | None = None,
                    reason: str = "store profile received") -> Customer:
    """Create or update the customer by ``external_id`` (joins the caller's transaction).

    A new customer, or any change of the profile, is an audit row with the changed fields
    (ID number and phone masked; a changed ID number is recorded even when its mask is the
    same). Receiving the same profile again writes nothing."""
    with transaction.atomic():
        customer = Customer.objects.select_for_update().filter(external_id=external_id).first()
        created = customer is None
        if customer is None:
            customer = Customer(external_id=external_id)
            before, before_hash = {}, ""
        else:
            before, before_hash = _customer_snapshot(customer), customer.id_number_hash
        customer.name = name
        customer.set_id_number(id_number)
        customer.phone = phone
        customer.store_status = store_status
        customer.store_since = store_since
        customer.orders_12m = orders_12m
        customer.spend_12m = spend_12m
        customer.return_rate = return_rate
        customer.save()
        after = _customer_snapshot(customer)
        changed = [key for key in after if before.get(key) != after[key]
                   or (key == "id_number" and before and before_hash != customer.id_number_hash)]
        if changed:
            audit_record(acting_user=acting_user, action="customer.created" if created else "customer.updated",
                         obj=customer, before={key: before[key] for key in changed if key in before},
                         after={key: after[key] for key in changed}, reason=reason)
    return customer


def record_status_change(account: CreditAccount, *, from_status: str, reason_code: str, note: str,
                   acting_user: AbstractBaseUser | None) -> None:
    AccountStatusChange.objects.create(
        account=account, from_status=from_status, to_status=account.status, reason_code=reason_code,
        note=note, business_date=business_date_get(),
        actor=acting_user if getattr(acting_user, "pk", None) else None)
    audit_record(acting_user=acting_user, action="account.status_changed", obj=account,
                 before={"status": from_status}, after={"status": account.status},
                 reason=f"{reason_code} {note}".strip())


def record_limit_change(account: CreditAccount, *, old_limit: Decimal, reason_code: str, note: str,
                  policy_version_id: int, acting_user: AbstractBaseUser | None) -> None:
    LimitChange.objects.create(
        account=account, old_limit=old_limit, new_limit=account.credit_limit, reason_code=reason_code,
        note=note, policy_version_id=policy_version_id, business_date=business_date_get(),
        actor=acting_user if getattr(acting_user, "pk", None) else None)
    audit_record(acting_user=acting_user, action="account.limit_changed", obj=account,
                 before={"credit_limit": str(old_limit)}, after={"credit_limit": str(account.credit_limit)},
                 reason=reason_code)


def credit_account_open(*, customer: Customer, credit_limit: Decimal, card_token: str,
                        policy_version_id: int, reason_code: str,
                        acting_user: AbstractBaseUser | None) -> CreditAccount:
    """Open the customer's credit account, or reopen their closed one (inside a transaction).

    Nothing is owed on a new or reopened account, so the whole limit is available.
    """
    today = business_date_get()
    account = CreditAccount.objects.select_for_update().filter(customer=customer).first()
    if account is None:
        account = CreditAccount(
            customer=customer, credit_limit=credit_limit, available_limit=credit_limit,
            billing_day=min(today.day, 28), repayment_card_token=card_token, opened_on=today,
            policy_version_id=policy_version_id,
        )
        account.save()
        record_status_change(account, from_status="", reason_code=reason_code, note="", acting_user=acting_user)
        record_limit_change(account, old_limit=Decimal("0.00"), reason_code=reason_code, note="",
                      policy_version_id=policy_version_id, acting_user=acting_user)
        return account
    old_status, old_limit = account.status, account.credit_limit
    account.reopen()
    account.credit_limit = credit_limit
    account.available_limit = max(Decimal("0.00"), credit_limit - account.principal_outstanding - account.held_amount)
    account.repayment_card_token = card_token or account.repayment_card_token
    account.reopened_on = today
    account.closed_on = None
    account.closed_reason = ""
    account.paused_by_customer = False
    account.policy_version_id = policy_version_id
    account.save()
    record_status_change(account, from_status=old_status, reason_code=reason_code, note="", acting_user=acting_user)
    record_limit_change(account, old_limit=old_limit, reason_code=reason_code, note="",
                  policy_version_id=policy_version_id, acting_user=acting_user)
    return account


# --- notifications outbox ----------------------------------------------------------------


def notification_enqueue(*, customer: Customer, kind: str, event_key: str, params: dict[str, Any],
                         account: CreditAccount | None = None) -> Notification:
    """Write an outbox row in the caller's transaction; delivery is scheduled after commit.

    The same ``event_key`` twice is one notification (at most once per event).
    """
    from . import tasks

    notification, created = Notification.objects.get_or_create(
        event_key=event_key,
        defaults={"customer": customer, "account": account, "kind": kind, "params": params},
    )
    if created:
        transaction.on_commit(lambda: tasks.deliver_notification.delay(notification.pk))
    return notification


def notifications_enqueue(notifications: list[Notification]) -> None:
    """``notification_enqueue`` for many new outbox rows (new event keys): one INSERT and, after
    commit, one delivery task for all of them."""
    from . import tasks

    if not notifications:
        return
    created = Notification.objects.bulk_create(notifications)
    ids = [n.pk for n in created]
    transaction.on_commit(lambda: tasks.deliver_notifications.delay(ids))


# --- API clients -------------------------------------------------------------------------


def api_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_client_create_or_rotate(*, name: str) -> tuple[ApiClient, str]:
    """Create the service client ``name`` or rotate its token. Returns the clear token once."""
    token = secrets.token_hex(24)
    with transaction.atomic():
        client, created = ApiClient.objects.select_for_update().get_or_create(
            name=name, defaults={"token_hash": api_token_hash(token), "token_prefix": token[:8]})
        if not created:
            client.token_hash = api_token_hash(token)
            client.token_prefix = token[:8]
            client.is_active = True
            client.save()
        audit_record(acting_user=None, action="api_client.created" if created else "api_client.rotated",
                     obj=client)
    return client, token


def idempotency_records_purge(*, older_than_hours: int) -> int:
    from .models import IdempotencyRecord

    cutoff = timezone.now() - timedelta(hours=older_than_hours)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
