from __future__ import annotations

from decimal import Decimal

from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import clock
from accounts.api.fields import MoneyField, StrictCharField, StrictIntegerField
from accounts.business_day import business_date_get

from ..models import Application, ApplicationKind
from ..reasons import customer_message

STORE_STATUSES = ("normal", "stolen", "deregistered", "restricted")


@extend_schema_field({"type": "string", "pattern": r"^(0(\.\d{1,4})?|1(\.0{1,4})?)$", "example": "0.03"})
class RateField(serializers.DecimalField):
    """A share between 0 and 1 with at most 4 decimals; documented as what it accepts (the
    default decimal pattern also allowed "", "-" and values above 1)."""


class CustomerInSerializer(serializers.Serializer):
    external_id = StrictCharField(max_length=64)
    name = StrictCharField(max_length=100)
    id_number = StrictCharField(max_length=18, min_length=1)
    phone = StrictCharField(max_length=20, validators=[
        RegexValidator(r"^\+?\d{5,19}$", message=_("Must be a phone number (digits only).")),
    ])
    store_status = serializers.ChoiceField(choices=STORE_STATUSES)
    store_since = serializers.DateField(input_formats=["%Y-%m-%d"])
    orders_12m = StrictIntegerField(min_value=0, max_value=1_000_000)
    spend_12m = MoneyField()
    return_rate = RateField(max_digits=5, decimal_places=4, min_value=Decimal("0"), max_value=Decimal("1"),
                            coerce_to_string=True)

    def validate_store_since(self, value):
        """A store customer since a day that has not come yet is a typo, not a new customer:
        refused rather than scored (the later of today and the business date is the limit)."""


        if value > max(clock.localdate(), business_date_get()):
            raise serializers.ValidationError(_("Must not be in the future."))
        return value


class ApplicationInSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ApplicationKind.choices)
    customer = CustomerInSerializer()
    repayment_card_token = StrictCharField(max_length=64, required=False, allow_blank=True, default="")


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.SerializerMethodField()

    def get_message(self, obj) -> str:
        return customer_message(obj)


class CustomerOutSerializer(serializers.Serializer):
    external_id = serializers.CharField(source="customer.external_id")
    name = serializers.CharField()
    id_number = serializers.CharField(source="id_number_masked")
    phone = serializers.CharField()
    store_status = serializers.CharField()
    store_since = serializers.DateField()
    orders_12m = serializers.IntegerField()
    spend_12m = MoneyField()
    return_rate = serializers.DecimalField(max_digits=5, decimal_places=4)


class ApplicationOutSerializer(serializers.ModelSerializer):
    id = serializers.CharField()
    reasons = ReasonSerializer(many=True)
    credit_limit = MoneyField(required=False, allow_null=True)
    policy_version = serializers.IntegerField(source="policy.version")
    # Present only when approved (to_representation drops it otherwise): not a required property.
    account_id = serializers.CharField(required=False, allow_null=True)
    customer = serializers.SerializerMethodField()

    class Meta:
        model = Application
        fields = ["id", "kind", "status", "score", "reasons", "credit_limit", "policy_version", "account_id",
                  "customer", "created_at", "decided_at"]

    def get_customer(self, obj: Application) -> dict:
        return CustomerOutSerializer(obj).data

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.status != "approved":
            data.pop("credit_limit", None)
            data.pop("account_id", None)
        return data
