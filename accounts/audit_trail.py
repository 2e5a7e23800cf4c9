"""The audit trail's writer (docs/rules.md §11): who did what, to which object, before and
after, and why — one row written in the transaction of the change it records."""

from __future__ import annotations

from typing import Any, Protocol, TypeGuard, runtime_checkable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db import connection

from .errors import Message, PermissionRefused, require_permission
from .models import AuditEvent


@runtime_checkable
class ServiceClient(Protocol):
    """A caller that is not a member of staff: the storefront's API client. It holds no staff
    permission; the audit trail names it by ``audit_label`` (e.g. ``api:storefront``)."""

    @property
    def audit_label(self) -> str: ...


# Who acts: a member of staff, a service client (the storefront), or None (the system).
Actor = AbstractBaseUser | AnonymousUser | ServiceClient | None

# A member of staff, as the foreign keys to settings.AUTH_USER_MODEL (Django's ``User``) hold them.
StaffUser = User


def _is_staff_user(actor: Actor) -> TypeGuard[StaffUser]:
    # Every saved user is an instance of settings.AUTH_USER_MODEL, i.e. a ``StaffUser``.
    return isinstance(actor, AbstractBaseUser) and bool(actor.pk)


def staff_user(actor: Actor) -> StaffUser | None:
    """The member of staff behind ``actor`` (for ``actor`` foreign keys), or None."""
    return actor if _is_staff_user(actor) else None


def require_staff(actor: Actor, perm: str, message: Message) -> StaffUser:
    """``require_permission`` for services that act as a member of staff: refuse unless
    ``actor`` is one holding ``perm``, and return them (for the foreign keys they fill)."""
    require_permission(actor, perm, message)
    user = staff_user(actor)
    if user is None:  # anonymous users and service clients hold none; this refuses an unsaved user
        raise PermissionRefused(message)
    return user


def actor_label(actor: Actor) -> str:
    if isinstance(actor, ServiceClient):
        return actor.audit_label
    user = staff_user(actor)
    return user.get_username() if user is not None else "system"


def audit_record(*, acting_user: Actor, action: str, obj: Any = None, object_type: str = "", object_id: str = "",
                 before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
                 reason: str = "") -> AuditEvent:
    """Write one audit row, inside the transaction of the change it records."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record runs inside the transaction of the change it records")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    return AuditEvent.objects.create(
        actor=staff_user(acting_user), actor_label=actor_label(acting_user), action=action, object_type=object_type,
        object_id=object_id, before=before or {}, after=after or {}, reason=reason or "")


def audit_record_many(rows: list[AuditEvent]) -> None:
    """Many audit rows in one INSERT (the nightly close's batches), inside their transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record_many runs inside the transaction of the changes it records")
    AuditEvent.objects.bulk_create(rows)
