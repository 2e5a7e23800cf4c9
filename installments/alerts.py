"""Restoration alerts (a successful repayment that neither restored nor held its principal):
a member of staff who looked into one resolves it with a note; ``audit_ledger`` stops
reporting it. The resolution is audited (who, when, what they found)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.audit_trail import Actor, audit_record, staff_user
from accounts.errors import ValidationFailed, require_permission

from .models import RestorationAlert


def restoration_alerts_resolve(*, alert_ids: list[int], note: str, acting_user: Actor) -> list[int]:
    """Resolve the open alerts among ``alert_ids`` with ``note``; returns the ids resolved."""
    require_permission(acting_user, "installments.resolve_restorationalert",
                       _("You may not resolve restoration alerts."))
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(_("Say what you found: a resolution note is required."))
    now = timezone.now()
    with transaction.atomic(durable=True):
        alerts = list(RestorationAlert.objects.select_for_update().filter(pk__in=alert_ids, resolved=False)
                      .order_by("pk"))
        for alert in alerts:
            alert.resolved = True
            alert.resolved_by = staff_user(acting_user)
            alert.resolved_at = now
            alert.resolution_note = note
            alert.save(update_fields=["resolved", "resolved_by", "resolved_at", "resolution_note"])
            audit_record(acting_user=acting_user, action="restoration_alert.resolved", obj=alert,
                         before={"resolved": False}, after={"resolved": True, "note": note}, reason=note)
    return [alert.pk for alert in alerts]
