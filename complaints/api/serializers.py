from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from accounts.api.fields import StrictCharField
from accounts.ids import parse_id

from ..models import Category, Channel, ClosureRequest, Complaint
from ..reasons import customer_message


class OpaqueIdField(StrictCharField):
    """An id given as a JSON string (ids are opaque strings; ours are digits)."""

    default_error_messages = {"invalid_id": _('Must be an id string such as "42".')}

    # A char field whose value is the parsed id: the stubs fix every CharField's value type to str.
    def to_internal_value(self, data) -> int:  # type: ignore[override]
        value = parse_id(super().to_internal_value(data))
        if value is None:
            self.fail("invalid_id")
        return value


class ComplaintInSerializer(serializers.Serializer):
    customer_external_id = StrictCharField(max_length=64, min_length=1)
    account_id = OpaqueIdField(required=False, allow_null=True, default=None)
    category = serializers.ChoiceField(choices=Category.choices)
    channel = serializers.ChoiceField(choices=Channel.choices)
    description = StrictCharField(max_length=4000, min_length=1)


class ComplaintOutSerializer(serializers.ModelSerializer):
    id = serializers.CharField()
    customer_external_id = serializers.CharField(source="customer.external_id")
    account_id = serializers.SerializerMethodField()
    extended = serializers.BooleanField()

    class Meta:
        model = Complaint
        fields = ["id", "status", "category", "channel", "customer_external_id", "account_id", "acknowledge_by",
                  "respond_by", "acknowledged_at", "extended", "resolved_at", "resolution", "created_at"]

    def get_account_id(self, obj: Complaint) -> str | None:
        return str(obj.account_id) if obj.account_id else None


class ClosureRequestInSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    note = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")


class ClosureReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.SerializerMethodField()

    def get_message(self, obj) -> str:
        return customer_message(obj)


class ClosureRequestOutSerializer(serializers.ModelSerializer):
    id = serializers.CharField()
    account_id = serializers.CharField()
    reasons = ClosureReasonSerializer(many=True)

    class Meta:
        model = ClosureRequest
        fields = ["id", "account_id", "status", "origin", "channel", "payoff_expires_at", "reasons", "alternative",
                  "created_at", "decided_at"]
