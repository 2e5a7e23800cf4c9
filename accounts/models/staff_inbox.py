"""The staff inbox: a notification to one member of staff (a case escalated to them, a
proposal awaiting their confirmation, …), shown in the back office and e-mailed after commit
(``accounts.staff_inbox``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class StaffNotification(models.Model):
    """One message to one member of staff. ``read_at`` is empty until they read it."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                  related_name="staff_notifications", verbose_name=_("recipient"))
    kind = models.CharField(_("kind"), max_length=48)
    message = models.TextField(_("message"))
    link = models.CharField(_("link"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("staff notification")
        verbose_name_plural = _("staff notifications")
        ordering = ["-id"]
        indexes = [
            # "My notifications", newest first
            models.Index(fields=["recipient", "-id"], name="staff_inbox_recipient"),
            # the header's unread count
            models.Index(fields=["recipient"], condition=models.Q(read_at__isnull=True),
                         name="staff_inbox_unread"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_id}"
