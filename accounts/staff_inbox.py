"""The staff inbox (docs/rules.md §1, decision 0032): a notification to members of staff —
written in the caller's transaction, shown in the back office ("My notifications", the unread
count in every page's header) and e-mailed after commit through Django's mail backend.

Recipients are named (``recipients``) or are every active member of staff holding a
permission (``permission``, granted through a group or directly; superusers are not added
for holding every permission). Each recipient reads the message in their back office
language (``StaffProfile.language``). A mail server that fails never breaks the caller: the
rows are committed already, the failure is logged."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation

from .audit_trail import StaffUser
from .errors import Message
from .models import StaffNotification

logger = logging.getLogger("tally.staff_inbox")

SUBJECT_PREFIX = "[Tally] "
SUBJECT_LENGTH = 120


def staff_holding(permission: str) -> QuerySet[StaffUser]:
    """Every active member of staff holding ``permission`` ('app_label.codename') through a
    group or directly (superusers only when granted it like anyone else)."""
    app_label, _dot, codename = permission.partition(".")
    perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    return (StaffUser.objects.filter(is_active=True, is_staff=True)
            .filter(Q(groups__permissions__in=perm) | Q(user_permissions__in=perm))
            .distinct().order_by("pk"))


def _language_of(user: StaffUser) -> str:
    profile = getattr(user, "staff_profile", None)
    return getattr(profile, "language", None) or settings.LANGUAGE_CODE


def _render(message: Message, params: Mapping[str, Any] | None, language: str) -> str:
    with translation.override(language):
        text = str(message)
        return text % dict(params) if params else text


def staff_notify(*, recipients: Iterable[StaffUser] | None = None, permission: str | None = None, kind: str,
                 message: Message, params: Mapping[str, Any] | None = None, link: str = "",
                 email: bool = True, exclude: Iterable[StaffUser | None] = ()) -> list[StaffNotification]:
    """Notify members of staff, inside the caller's transaction. ``message`` is best a lazy
    translation (``gettext_lazy``) with ``%(name)s`` placeholders filled from ``params``: it is
    rendered in each recipient's language. ``link`` is a back-office path. ``exclude``: members
    of staff left out (e.g. whoever acted). E-mails (to those with an address) leave after
    commit; nothing is sent if the transaction rolls back."""
    if not connection.in_atomic_block:
        raise RuntimeError("staff_notify runs inside the transaction of the change it reports")
    if (recipients is None) == (permission is None):
        raise ValueError("name the recipients or a permission, not both")
    if permission is not None:
        users = list(staff_holding(permission).select_related("staff_profile"))
    else:
        named = {user.pk: user for user in (recipients or []) if user is not None and user.pk}
        users = list(StaffUser.objects.filter(pk__in=named, is_active=True).select_related("staff_profile")
                     .order_by("pk"))
    excluded = {user.pk for user in exclude if user is not None}
    users = [user for user in users if user.pk not in excluded]
    if not users:
        return []
    rows = StaffNotification.objects.bulk_create([
        StaffNotification(recipient=user, kind=kind, message=_render(message, params, _language_of(user)),
                          link=link)
        for user in users])
    if email:
        mails = [(user.email, row.message, link) for user, row in zip(users, rows, strict=True) if user.email]
        if mails:
            transaction.on_commit(lambda: _send_mails(kind, mails))
    return rows


def _send_mails(kind: str, mails: list[tuple[str, str, str]]) -> None:
    """After commit: one e-mail per recipient. Any failure is logged, never raised."""
    try:
        messages = [
            EmailMessage(subject=SUBJECT_PREFIX + text.splitlines()[0][:SUBJECT_LENGTH] if text else SUBJECT_PREFIX,
                         body=f"{text}\n\n{link}" if link else text, to=[address])
            for address, text, link in mails]
        with get_connection(fail_silently=False) as mail_connection:
            mail_connection.send_messages(messages)
    except Exception:  # a failing mail server must never break the work that was committed
        logger.exception("staff inbox: e-mail of %s to %d recipient(s) failed", kind, len(mails))


def staff_inbox_mark_read(*, acting_user: StaffUser, notification_ids: Iterable[int] | None = None) -> int:
    """Mark the member of staff's own notifications read: those named, or all unread ones.
    Others' notifications are never touched. Returns how many were marked."""
    rows = StaffNotification.objects.filter(recipient_id=acting_user.pk, read_at__isnull=True)
    if notification_ids is not None:
        rows = rows.filter(pk__in=list(notification_ids))
    with transaction.atomic(durable=True):
        return rows.update(read_at=timezone.now())


def staff_inbox_unread_count(user: Any) -> int:
    """Unread notifications of ``user`` (one indexed query)."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "pk", None):
        return 0
    return StaffNotification.objects.filter(recipient_id=user.pk, read_at__isnull=True).count()


def staff_inbox_of(user: StaffUser) -> QuerySet[StaffNotification]:
    """The member of staff's notifications, newest first."""
    return StaffNotification.objects.filter(recipient_id=user.pk).order_by("-id")
