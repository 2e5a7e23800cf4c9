"""The audit trail (docs/rules.md §11)."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """Who did what, when, to which object, before/after and why — written in the same
    transaction as the change. Append-only (the database refuses UPDATE and DELETE)."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", verbose_name=_("actor"))
    actor_label = models.CharField(max_length=150, blank=True, verbose_name=_("actor label"))
    action = models.CharField(max_length=64, db_index=True, verbose_name=_("action"))
    object_type = models.CharField(max_length=64, verbose_name=_("object type"))
    object_id = models.CharField(max_length=64, verbose_name=_("object id"))
    before = models.JSONField(default=dict, blank=True, verbose_name=_("before"))
    after = models.JSONField(default=dict, blank=True, verbose_name=_("after"))
    reason = models.TextField(blank=True, verbose_name=_("reason"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "created_at"]),
                   # the trail's order, newest first, walked in the index to any page (decision 0036);
                   # serves created_at ranges as the single-column index did
                   models.Index(fields=["created_at", "id"], name="auditevent_created_at_id")]
        triggers = [pgtrigger.Protect(name="audit_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}#{self.object_id}"
