from rest_framework import serializers

from accounts.api.fields import MoneyField, StrictCharField, StrictIntegerField

from ..models import Installment, InstallmentPlan, Refund, Statement


class PurchaseInSerializer(serializers.Serializer):
    merchant_order_id = StrictCharField(max_length=64, min_length=1)
    amount = MoneyField(positive=True)
    installments = StrictIntegerField(min_value=1, max_value=120)


class ScheduleItemSerializer(serializers.ModelSerializer):
    principal = MoneyField()
    fee = MoneyField()

    class Meta:
        model = Installment
        fields = ["seq", "due_date", "principal", "fee"]


class PurchaseOutSerializer(serializers.Serializer):
    """What POST .../purchases answers (the body of ``views.purchase_body``); for the schema."""

    id = serializers.CharField()
    merchant_order_id = serializers.CharField()
    amount = MoneyField()
    business_date = serializers.DateField()
    installments = ScheduleItemSerializer(many=True)
    available_limit = MoneyField()


class RefundInSerializer(serializers.Serializer):
    merchant_refund_id = StrictCharField(max_length=64, min_length=1)
    amount = MoneyField(positive=True)


class RefundOutSerializer(serializers.ModelSerializer):
    id = serializers.CharField()
    purchase_id = serializers.CharField()
    amount = MoneyField()
    principal_reduced = MoneyField()
    credit_balance_added = MoneyField()
    fees_waived = MoneyField()

    class Meta:
        model = Refund
        fields = ["id", "purchase_id", "merchant_refund_id", "amount", "principal_reduced", "credit_balance_added",
                  "fees_waived", "business_date"]


class RefundCreatedSerializer(RefundOutSerializer):
    """What POST .../refunds answers: the refund and the account's available limit after it."""

    available_limit = MoneyField()

    class Meta(RefundOutSerializer.Meta):
        fields = [*RefundOutSerializer.Meta.fields, "available_limit"]


class InstallmentSerializer(serializers.ModelSerializer):
    id = serializers.CharField()
    purchase_id = serializers.SerializerMethodField()
    plan_id = serializers.CharField()
    principal = MoneyField()
    fee = MoneyField()
    principal_paid = MoneyField()
    fee_paid = MoneyField()
    principal_cancelled = MoneyField()
    fee_waived = MoneyField()
    status = serializers.SerializerMethodField()

    class Meta:
        model = Installment
        fields = ["id", "purchase_id", "plan_id", "seq", "due_date", "principal", "fee", "principal_paid", "fee_paid",
                  "principal_cancelled", "fee_waived", "status"]

    def get_purchase_id(self, obj) -> str | None:
        return str(obj.purchase_id) if obj.purchase_id else None

    def get_status(self, obj) -> str:
        return obj.status_on(self.context["business_date"])


class StatementSerializer(serializers.ModelSerializer):
    id = serializers.CharField()
    principal_due = MoneyField()
    fees_due = MoneyField()
    overdue_amount = MoneyField()
    penalties = MoneyField()
    total_due = MoneyField()

    class Meta:
        model = Statement
        fields = ["id", "statement_date", "earliest_due_date", "principal_due", "fees_due", "overdue_amount",
                  "penalties", "total_due"]


class BillPlanInSerializer(serializers.Serializer):
    installments = StrictIntegerField(min_value=1, max_value=120)


class PlanSerializer(serializers.ModelSerializer):
    id = serializers.CharField()
    statement_id = serializers.SerializerMethodField()
    principal = MoneyField()
    fee_per_period = MoneyField()
    installments = ScheduleItemSerializer(many=True)

    class Meta:
        model = InstallmentPlan
        fields = ["id", "kind", "statement_id", "principal", "periods", "fee_per_period", "start_date", "installments"]

    def get_statement_id(self, obj) -> str | None:
        return str(obj.statement_id) if obj.statement_id else None


class PayoffQuoteSerializer(serializers.Serializer):
    principal = MoneyField()
    fees = MoneyField()
    penalties = MoneyField()
    total = MoneyField()
    recoverable = MoneyField(help_text="After a write-off: what is still owed of the amount written off "
                                       "(then also the total); 0.00 otherwise.")
    credit_balance = MoneyField()
    amount_to_pay = MoneyField()
    as_of = serializers.DateField()
