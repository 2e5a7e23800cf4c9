"""The notification outbox (docs/rules.md §12)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from .credit_accounts import CreditAccount
from .customers import Customer


class NotificationStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")


class Notification(models.Model):
    """Outbox row: written in the business transaction, delivered after commit by a Celery
    task at most once per ``event_key``."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="notifications", verbose_name=_("customer"))
    account = models.ForeignKey(CreditAccount, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="notifications", verbose_name=_("account"))
    kind = models.CharField(max_length=48, db_index=True, verbose_name=_("kind"))
    event_key = models.CharField(max_length=160, unique=True, verbose_name=_("event key"))
    params = models.JSONField(default=dict, verbose_name=_("params"))
    status = models.CharField(max_length=16, choices=NotificationStatus.choices,
                              default=NotificationStatus.PENDING, db_index=True, verbose_name=_("status"))
    channel = models.CharField(max_length=32, blank=True, verbose_name=_("channel"))
    rendered = models.TextField(blank=True, verbose_name=_("rendered"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    # Delivery tries (accounts/notifications.py): a failed send waits next_attempt_at before
    # the next; claimed_at tells a row stuck in "sending" (its worker died) from a live one.
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    next_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next attempt at"))
    claimed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("claimed at"))

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        permissions = [("resend_notification", _("Can re-send a failed notification"))]

    def __str__(self) -> str:
        return f"{self.kind} → {self.customer.external_id}"
