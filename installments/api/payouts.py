"""Credit-balance payouts through the API (docs/api.md, v1.1)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response

from accounts.api.fields import MoneyField
from accounts.api.views import parse_id

from ..models import CreditBalancePayout
from ..services.payouts import payout_request
from .views import IDEMPOTENCY, _account_or_404


class PayoutInSerializer(serializers.Serializer):
    amount = MoneyField(positive=True, required=False,
                        help_text="What to pay out of the credit balance; omitted: all of it.")


class PayoutSerializer(serializers.ModelSerializer):
    id = serializers.CharField()
    amount = MoneyField()

    class Meta:
        model = CreditBalancePayout
        fields = ["id", "amount", "business_date", "status"]


class PayoutListCreateView(ListAPIView):
    """``POST``: pay (part of) the credit balance out to the repayment card — what is due today is
    paid from it first. ``GET``: the account's payouts, newest first."""

    serializer_class = PayoutSerializer
    required_scope = "repayments"

    def get_queryset(self):
        return CreditBalancePayout.objects.filter(account_id=_account_or_404(self.kwargs["account_id"]).pk).order_by(
            "-id")

    @extend_schema(request=PayoutInSerializer, parameters=[IDEMPOTENCY], responses={201: PayoutSerializer},
                   operation_id="credit_balance_payouts_create")
    def post(self, request, account_id: str):
        account_pk = parse_id(account_id)
        serializer = PayoutInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        payout = payout_request(account_id=account_pk, amount=serializer.validated_data.get("amount"),
                                acting_user=request.user)
        return Response(PayoutSerializer(payout).data, status=201)
