from rest_framework import serializers

from accounts.api.fields import MoneyField

from ..models import CreditAccount


class OutstandingSerializer(serializers.Serializer):
    principal = MoneyField(source="principal_outstanding")
    fees = MoneyField(source="fees_outstanding")
    penalties = MoneyField(source="penalties_outstanding")
    total = MoneyField(source="outstanding_total")


class CreditAccountSerializer(serializers.ModelSerializer):
    id = serializers.CharField()
    customer_external_id = serializers.CharField(source="customer.external_id")
    credit_limit = MoneyField()
    available_limit = MoneyField()
    held_amount = MoneyField()
    outstanding = OutstandingSerializer(source="*")
    credit_balance = MoneyField()
    bucket = serializers.CharField()

    class Meta:
        model = CreditAccount
        fields = ["id", "customer_external_id", "status", "credit_limit", "available_limit", "held_amount",
                  "outstanding", "credit_balance", "days_past_due", "bucket", "billing_day", "auto_debit",
                  "opened_on"]


class LimitChangeSerializer(serializers.Serializer):
    id = serializers.CharField()
    old_limit = MoneyField()
    new_limit = MoneyField()
    reason_code = serializers.CharField()
    business_date = serializers.DateField()
    policy_version = serializers.IntegerField(source="policy_version.version")
    created_at = serializers.DateTimeField()
