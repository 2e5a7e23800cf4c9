"""Writes of customers: the store profile received with an application, and the logged
view of a full ID number (docs/rules.md §3, §11)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import connection, transaction
from django.utils.translation import gettext_lazy

from .audit_trail import Actor, audit_record
from .errors import require_permission
from .models import Customer
from .pii import mask_phone

VIEW_FULL_ID_NUMBER = "accounts.view_full_id_number"


def id_number_reveal(*, customer: Customer, acting_user: Actor, purpose: str = "") -> str:
    """The clear ID number for a holder of ``accounts.view_full_id_number``; the view is logged."""
    require_permission(acting_user, VIEW_FULL_ID_NUMBER, gettext_lazy("You may not view full ID numbers."))
    with transaction.atomic(durable=True):
        audit_record(acting_user=acting_user, action="pii.id_number_viewed", obj=customer, reason=purpose)
    return customer.reveal_id_number()


def _customer_snapshot(customer: Customer) -> dict[str, str]:
    """What the audit trail keeps of a customer's profile: personal data masked."""
    return {"name": customer.name, "id_number": customer.id_number_masked, "phone": mask_phone(customer.phone),
            "store_status": customer.store_status, "store_since": str(customer.store_since),
            "orders_12m": str(int(customer.orders_12m)), "spend_12m": f"{Decimal(customer.spend_12m):.2f}",
            "return_rate": f"{Decimal(customer.return_rate):.4f}"}


def customer_upsert(*, external_id: str, name: str, id_number: str, phone: str, store_status: str,
                    store_since: date, orders_12m: int, spend_12m: Decimal, return_rate: Decimal,
                    acting_user: Actor = None, reason: str = "store profile received") -> Customer:
    """Create or update the customer by ``external_id``, inside the caller's transaction
    (the application that carries the profile).

    A new customer, or any change of the profile, is an audit row with the changed fields
    (ID number and phone masked; a changed ID number is recorded even when its mask is the
    same). Receiving the same profile again writes nothing."""
    if not connection.in_atomic_block:
        raise RuntimeError("customer_upsert runs inside the caller's transaction")
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
    if created:
        customer.save()
    else:
        customer.save(update_fields=["name", "id_number_encrypted", "id_number_hash", "id_number_masked", "phone",
                                     "store_status", "store_since", "orders_12m", "spend_12m", "return_rate",
                                     "updated_at"])
    after = _customer_snapshot(customer)
    changed = [key for key in after if before.get(key) != after[key]
               or (key == "id_number" and before and before_hash != customer.id_number_hash)]
    if changed:
        audit_record(acting_user=acting_user, action="customer.created" if created else "customer.updated",
                     obj=customer, before={key: before[key] for key in changed if key in before},
                     after={key: after[key] for key in changed}, reason=reason)
    return customer
