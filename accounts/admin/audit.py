"""The audit trail's list, for holders of ``accounts.view_auditevent``."""

from __future__ import annotations

import json

from django.contrib import admin
from django.db.models import Q
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts import selectors
from accounts.audit_filters import (
    ActionFilter,
    ActorFilter,
    CustomerFilter,
    DateRangeFilter,
    ObjectFilter,
    actor_condition,
    audit_object_types,
)
from accounts.customer360 import audit_url_for_object
from accounts.exports import ChangeListExportMixin, Column
from accounts.models import AuditEvent
from accounts.templatetags.backoffice import audit_json

from .base import ReadOnlyAdmin


def _json_cell(value: dict) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""


@admin.register(AuditEvent)
class AuditEventAdmin(ChangeListExportMixin, ReadOnlyAdmin):
    """The audit trail, for holders of ``accounts.view_auditevent``: filter by customer (all
    that belongs to them), who, action, object and dates; search a customer's store id, an
    object id (an account or complaint number…), a user name or an action."""

    list_display = ("created_at", "actor_display", "action", "object_display", "change_display", "reason")
    list_filter = (CustomerFilter, ActorFilter, ActionFilter, ObjectFilter, DateRangeFilter)
    search_fields = ("action", "object_id", "actor_label")
    search_help_text = _("Store customer id (all of the customer's events), object id, user name or action")
    ordering = ("-created_at", "-id")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    fields = ("created_at", "actor", "actor_label", "action", "object_type", "object_id", "object_display",
              "before", "after", "reason")
    readonly_fields = fields
    csv_export_name = "audit-events"
    csv_columns = (
        Column(_("created at"), lambda e: e.created_at),
        Column(_("who"), lambda e: e.actor_label or gettext("system")),
        Column(_("action"), lambda e: e.action),
        Column(_("object type"), lambda e: e.object_type),
        Column(_("object id"), lambda e: e.object_id),
        Column(_("before"), lambda e: _json_cell(e.before)),  # personal data is masked when recorded
        Column(_("after"), lambda e: _json_cell(e.after)),
        Column(_("reason"), lambda e: e.reason),
    )

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        """Indexed equalities only: a store customer id finds the customer's whole trail, a
        number finds the events of objects with that id, a word the user or the action."""
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(action=term) | Q(object_type__in=audit_object_types(), object_id=term)
        condition |= actor_condition(term)
        customer = selectors.customer_by_external_id(term)
        if customer is not None:
            condition |= selectors.customer_audit_q(customer.pk)
        return queryset.filter(condition), False

    @admin.display(description=_("who"), ordering="actor_label")
    def actor_display(self, event: AuditEvent) -> str:
        return event.actor_label or gettext("system")

    @admin.display(description=_("object"), ordering="object_type")
    def object_display(self, event: AuditEvent) -> str:
        url = audit_url_for_object(event.object_type, event.object_id)
        return format_html('<a href="{}" title="{}">{} #{}</a>', url, gettext("All events of this object"),
                           event.object_type, event.object_id)

    @admin.display(description=_("before → after"))
    def change_display(self, event: AuditEvent) -> str:
        before, after = audit_json(event.before), audit_json(event.after)
        if before and after:
            return f"{before} → {after}"
        return after or before or "-"
