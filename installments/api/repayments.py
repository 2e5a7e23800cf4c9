from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.fields import MoneyField, StrictCharField
from accounts.api.serializers import CreditAccountSerializer
from accounts.api.views import parse_id
from accounts.selectors import credit_account_get

from ..models import PaymentAttempt, Repayment
from ..services.repayment_cards import repayment_card_change
from ..services.repayments import repayment_create
from .views import IDEMPOTENCY, _account_or_404, booked_answer, created_or_replayed


class RepaymentInSerializer(serializers.Serializer):
    reference = StrictCharField(max_length=100, min_length=1)
    amount = MoneyField(positive=True)


class AllocationSerializer(serializers.Serializer):
    installment_id = serializers.SerializerMethodField()
    penalty = MoneyField(source="penalty_amount")
    fee = MoneyField(source="fee_amount")
    principal = MoneyField(source="principal_amount")

    def get_installment_id(self, obj) -> str | None:
        return str(obj.installment_id) if obj.installment_id else None


class RepaymentOutSerializer(serializers.ModelSerializer):
    id = serializers.CharField()
    amount = MoneyField()
    allocations = AllocationSerializer(many=True)
    limit_restored = MoneyField()
    held_amount = MoneyField()
    recovered = MoneyField(help_text="On a written-off account: what this repayment recovered of the amount "
                                     "written off (then nothing is allocated).")
    available_limit = MoneyField(source="available_limit_after")

    class Meta:
        model = Repayment
        fields = ["id", "reference", "source", "amount", "allocations", "limit_restored", "held_amount",
                  "hold_release_at", "recovered", "available_limit", "business_date"]


class _Written:
    """A repayment as its booking wrote it, with its allocations in memory (no read back)."""

    def __init__(self, repayment: Repayment, allocations: list) -> None:
        self._repayment = repayment
        self.allocations = allocations

    def __getattr__(self, name: str):
        return getattr(self._repayment, name)


def repayment_answer(result) -> tuple[int, dict]:
    """The answer to a repayment: built from the rows the booking wrote, or read again when it
    was found by its reference (inside the booking's transaction when the request has a key,
    so the stored answer commits with it)."""
    if result.allocations is not None:
        return 201, RepaymentOutSerializer(_Written(result.repayment, result.allocations)).data
    repayment = Repayment.objects.prefetch_related("allocations").get(pk=result.repayment.pk)
    return (201 if result.created else 200), RepaymentOutSerializer(repayment).data


class RepaymentCreateView(APIView):
    # The Idempotency-Key is taken and answered inside the repayment's own transaction
    # (config/api/idempotency.py, KeyInBooking): one commit per repayment.
    idempotency_in_booking = True

    @extend_schema(request=RepaymentInSerializer, parameters=[IDEMPOTENCY],
                   responses=created_or_replayed(RepaymentOutSerializer, "The same reference again: the repayment "
                                                                         "recorded the first time."),
                   operation_id="repayments_create")
    def post(self, request, account_id: str):
        account_pk = parse_id(account_id)
        serializer = RepaymentInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return booked_answer(request, repayment_answer, lambda request_key: repayment_create(
            account_id=account_pk, **serializer.validated_data, acting_user=request.user, request_key=request_key))


class PaymentAttemptSerializer(serializers.ModelSerializer):
    id = serializers.CharField()
    amount = MoneyField()

    class Meta:
        model = PaymentAttempt
        fields = ["id", "business_date", "amount", "status", "decline_code", "retry_on"]


class PaymentAttemptListView(ListAPIView):
    serializer_class = PaymentAttemptSerializer

    def get_queryset(self):
        return PaymentAttempt.objects.filter(account_id=_account_or_404(self.kwargs["account_id"]).pk).order_by(
            "-business_date", "-id")


class RepaymentCardInSerializer(serializers.Serializer):
    repayment_card_token = StrictCharField(max_length=64, min_length=1)


class RepaymentCardView(APIView):
    """The customer's new repayment card: the next business day's close charges it."""

    required_scope = "repayments"

    @extend_schema(request=RepaymentCardInSerializer, responses={200: CreditAccountSerializer},
                   operation_id="repayment_card_update")
    def put(self, request, account_id: str):
        account_pk = parse_id(account_id)
        serializer = RepaymentCardInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = repayment_card_change(account_id=account_pk,
                                        card_token=serializer.validated_data["repayment_card_token"],
                                        acting_user=request.user)
        return Response(CreditAccountSerializer(credit_account_get(account.pk)).data)
