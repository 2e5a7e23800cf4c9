"""Serializer fields of the contract: money as a JSON string with two decimals."""

from __future__ import annotations

import re
from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from accounts.money import format_money

_MONEY_RE = re.compile(r"^-?\d{1,12}(\.\d{1,2})?$")


class MoneyField(serializers.Field):
    default_error_messages = {
        "not_string": _('Money must be a JSON string such as "1234.50", not a number.'),
        "invalid": _("Money must be a decimal string with at most 2 decimals."),
        "positive": _("Must be greater than 0.00."),
        "non_negative": _("Must not be negative."),
    }

    def __init__(self, *, positive: bool = False, allow_zero: bool = True, **kwargs):
        self.positive = positive
        self.allow_zero = allow_zero
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> Decimal:
        if not isinstance(data, str):
            self.fail("not_string")
        if not _MONEY_RE.match(data.strip()):
            self.fail("invalid")
        value = Decimal(data.strip()).quantize(Decimal("0.01"))
        if self.positive and value <= 0:
            self.fail("positive")
        if value < 0:
            self.fail("non_negative")
        return value

    def to_representation(self, value) -> str:
        return format_money(Decimal(value))


try:
    from drf_spectacular.extensions import OpenApiSerializerFieldExtension

    class MoneyFieldSchema(OpenApiSerializerFieldExtension):
        target_class = "accounts.api.fields.MoneyField"

        def map_serializer_field(self, auto_schema, direction):
            if direction == "request":  # what to_internal_value accepts: never negative, positive if asked
                pattern = (r"^([1-9]\d{0,11}(\.\d{1,2})?|0\.(0[1-9]|[1-9]\d?))$" if self.target.positive
                           else r"^\d{1,12}(\.\d{1,2})?$")
                return {"type": "string", "pattern": pattern, "example": "100.00"}
            return {"type": "string", "pattern": r"^-?\d+\.\d{2}$", "example": "100.00"}
except ImportError:  # pragma: no cover
    pass


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers/booleans instead of coercing them to text."""

    default_error_messages = {"not_string": _("Must be a string.")}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_string")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """An IntegerField that refuses strings, floats and booleans."""

    default_error_messages = {"not_integer": _("Must be a JSON integer.")}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("not_integer")
        return super().to_internal_value(data)
