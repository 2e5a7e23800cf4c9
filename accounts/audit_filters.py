"""Filters of the audit trail list: by customer (everything that belongs to them), by actor,
by action, by object type and id, and by a date range. Each is a small form in the filter
sidebar; none runs a query to draw itself (no DISTINCT over the audit table)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import selectors
from .ids import parse_id


class InputFilter(admin.ListFilter):
    """A filter drawn as text inputs (``fields``: parameter → label); the values are kept in
    ``self.values``. Other query parameters are carried along as hidden inputs."""

    template = "admin/accounts/auditevent/input_filter.html"
    fields: dict[str, Any] = {}
    input_type = "text"

    def __init__(self, request: HttpRequest, params: dict, model, model_admin) -> None:
        super().__init__(request, params, model, model_admin)
        self.values: dict[str, str] = {}
        for name in self.fields:
            raw = params.pop(name, None)
            if isinstance(raw, list):
                raw = raw[-1] if raw else None
            if raw is not None and str(raw).strip():
                self.values[name] = str(raw).strip()
                self.used_parameters[name] = self.values[name]

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return list(self.fields)

    # One choice drawn by this filter's own template: django-stubs knows the stock choice keys only.
    def choices(self, changelist) -> list[dict[str, Any]]:  # type: ignore[override]
        others = [(key, value) for key, value in changelist.get_filters_params().items()
                  if key not in self.fields]
        if changelist.query:
            others.append(("q", changelist.query))
        hidden = []
        for key, value in others:
            for item in value if isinstance(value, list) else [value]:
                hidden.append((key, item))
        return [{
            "fields": [{"name": name, "label": label, "value": self.values.get(name, "")}
                       for name, label in self.fields.items()],
            "hidden": hidden,
            "input_type": self.input_type,
            "clear_url": changelist.get_query_string(remove=list(self.fields)),
            "active": bool(self.values),
        }]


class CustomerFilter(InputFilter):
    """``customer`` = the customer's id: their audit rows and those of their account,
    applications, review cases, complaints, closure requests and waivers."""

    title = _("customer")
    fields = {"customer": _("customer id (number)")}

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.values.get("customer")
        if value is None:
            return queryset
        customer_id = parse_id(value)
        if customer_id is None:
            return queryset.none()
        return queryset.filter(selectors.customer_audit_q(customer_id))


def actor_condition(name: str) -> Q:
    """The events of the user called ``name`` (an indexed equality on the user's id, looked
    up first), or the system's for “system”; nothing for an unknown name."""
    if name.lower() == "system":
        return Q(actor__isnull=True)
    user_id = get_user_model().objects.filter(username=name).values_list("pk", flat=True).first()
    return Q(actor_id=user_id) if user_id is not None else Q(pk__in=[])


def audit_object_types() -> list[str]:
    """Every object type an audit row may name (the models' labels), so that an object id is
    looked up through the (object_type, object_id) index."""
    return sorted(model._meta.label_lower for model in apps.get_models())


class ActorFilter(InputFilter):
    title = _("who")
    fields = {"actor": _("user name, or “system”")}

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.values.get("actor")
        if value is None:
            return queryset
        return queryset.filter(actor_condition(value))


class ActionFilter(InputFilter):
    title = _("action")
    fields = {"action": _("action, or its start (e.g. “complaint.”)")}

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.values.get("action")
        if value is None:
            return queryset
        return queryset.filter(action__startswith=value)


class ObjectFilter(InputFilter):
    title = _("object")
    fields = {"object_type": _("type (e.g. accounts.creditaccount)"), "object_id": _("id")}

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if "object_type" in self.values:
            queryset = queryset.filter(object_type=self.values["object_type"].lower())
        if "object_id" in self.values:
            queryset = queryset.filter(object_id=self.values["object_id"])
        return queryset


def _parse_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


class DateRangeFilter(InputFilter):
    """From and to (both included), as days of the back office's time zone."""

    title = _("date range")
    fields = {"created_from": _("from"), "created_to": _("to")}
    input_type = "date"

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        start, end = _parse_day(self.values.get("created_from")), _parse_day(self.values.get("created_to"))
        if ("created_from" in self.values and start is None) or ("created_to" in self.values and end is None):
            return queryset.none()  # not a date: nothing matches rather than everything
        zone = timezone.get_current_timezone()
        if start is not None:
            queryset = queryset.filter(created_at__gte=datetime.combine(start, time.min, tzinfo=zone))
        if end is not None:
            queryset = queryset.filter(created_at__lt=datetime.combine(end + timedelta(days=1), time.min,
                                                                       tzinfo=zone))
        return queryset
