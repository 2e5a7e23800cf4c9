from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.fields import MoneyField

from ..models import CreditAccount


class OutstandingSerializer(serializers.Serializer):
    principal = MoneyField(source="principal_outstanding")
    fees = MoneyField(source="fees_outstanding")
    penalties = MoneyField(source="penalties_outstanding")
    total = MoneyField(source="outstanding_total")


class WrittenOffSerializer(serializers.Serializer):
    on = serializers.DateField(source="written_off_on")
    amount = MoneyField(source="written_off_amount")
    recovered = MoneyField(source="recovered_amount")
    recoverable = MoneyField()


class CreditAccountSerializer(serializers.ModelSerializer):
    id = serializers.CharField()
    customer_external_id = serializers.CharField(source="customer.external_id")
    credit_limit = MoneyField()
    available_limit = MoneyField()
    held_amount = MoneyField()
    outstanding = OutstandingSerializer(source="*")
    credit_balance = MoneyField()
    bucket = serializers.CharField()
    written_off = serializers.SerializerMethodField()

    class Meta:
        model = CreditAccount
        fields = ["id", "customer_external_id", "status", "credit_limit", "available_limit", "held_amount",
                  "outstanding", "credit_balance", "days_past_due", "bucket", "billing_day", "auto_debit",
                  "opened_on", "written_off"]

    @extend_schema_field(WrittenOffSerializer(allow_null=True))
    def get_written_off(self, account: CreditAccount) -> dict | None:
        """None, or when and how much was written off, recovered since, and still recoverable."""
        return WrittenOffSerializer(account).data if account.written_off_on is not None else None


class LimitChangeSerializer(serializers.Serializer):
    id = serializers.CharField()
    old_limit = MoneyField()
    new_limit = MoneyField()
    reason_code = serializers.CharField()
    business_date = serializers.DateField()
    policy_version = serializers.IntegerField(source="policy_version.version")
    created_at = serializers.DateTimeField()
