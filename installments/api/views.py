from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.views import parse_id
from accounts.business_day import business_date_get
from accounts.request_keys import KeyedRequest
from accounts.selectors import credit_account_get

from .. import selectors
from ..services.purchases import PurchaseBooked, purchase_book
from ..services.refunds import refund_create
from ..services.statements import bill_installment_create
from .serializers import (
    BillPlanInSerializer,
    InstallmentSerializer,
    PayoffQuoteSerializer,
    PlanSerializer,
    PurchaseInSerializer,
    PurchaseOutSerializer,
    RefundCreatedSerializer,
    RefundInSerializer,
    RefundOutSerializer,
    StatementSerializer,
)

IDEMPOTENCY = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)


def created_or_replayed(serializer, replay: str) -> dict:
    """201 the first time; 200 with the same object when the same natural key comes again."""
    return {201: serializer, 200: OpenApiResponse(serializer, description=replay)}


def _account_or_404(raw_id: str):
    account = credit_account_get(parse_id(raw_id))
    if account is None:
        raise NotFound()
    return account


def purchase_answer(booked: PurchaseBooked) -> tuple[int, dict]:
    """The answer to a purchase (the shape of ``PurchaseOutSerializer``), built from the rows
    the booking wrote: 201 when it booked, 200 when it found the same order again."""
    purchase = booked.purchase
    return (201 if booked.created else 200), {
        "id": str(purchase.pk), "merchant_order_id": purchase.merchant_order_id, "amount": f"{purchase.amount:.2f}",
        "business_date": purchase.business_date.isoformat(),
        "installments": [{"seq": item.seq, "due_date": item.due_date.isoformat(), "principal": f"{item.principal:.2f}",
                          "fee": f"{item.fee:.2f}"} for item in booked.schedule],
        "available_limit": f"{booked.available_limit:.2f}"}


def booked_answer(request, answer: Callable[[Any], tuple[int, Any]],
                  book: Callable[[KeyedRequest | None], Any]) -> Response:
    """Run ``book`` with the request's Idempotency-Key (set by the idempotency middleware on a
    view marked ``idempotency_in_booking``; None without a header) and answer what it booked.
    The key stores ``answer``'s result inside the booking's transaction; it is computed once."""
    given: list[tuple[Any, tuple[int, Any]]] = []

    def answer_once(result: Any) -> tuple[int, Any]:
        if not given or given[0][0] is not result:
            given[:] = [(result, answer(result))]
        return given[0][1]

    request_key = getattr(request._request, "keyed_request", None)
    if request_key is not None:
        request_key.answer = answer_once
    status, body = answer_once(book(request_key))
    return Response(body, status=status)


class PurchaseCreateView(APIView):
    # The Idempotency-Key is taken and answered inside the booking's own transaction
    # (config/api/idempotency.py, KeyInBooking): one commit per purchase.
    idempotency_in_booking = True

    @extend_schema(request=PurchaseInSerializer, parameters=[IDEMPOTENCY],
                   responses=created_or_replayed(PurchaseOutSerializer, "The same merchant_order_id and body again: "
                                                                        "the purchase made the first time."),
                   operation_id="purchases_create")
    def post(self, request, account_id: str):
        account_pk = parse_id(account_id)
        serializer = PurchaseInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return booked_answer(request, purchase_answer, lambda request_key: purchase_book(
            account_id=account_pk, merchant_order_id=data["merchant_order_id"], amount=data["amount"],
            periods=data["installments"], acting_user=request.user, request_key=request_key))


def refund_answer(result) -> tuple[int, dict]:
    body = RefundOutSerializer(result.refund).data
    body["available_limit"] = f"{result.available_limit:.2f}"
    return (201 if result.created else 200), body


class RefundCreateView(APIView):
    # The Idempotency-Key is taken and answered inside the refund's own transaction.
    idempotency_in_booking = True

    @extend_schema(request=RefundInSerializer, parameters=[IDEMPOTENCY],
                   responses=created_or_replayed(RefundCreatedSerializer, "The same merchant_refund_id and body "
                                                                          "again: the refund made the first time."),
                   operation_id="refunds_create")
    def post(self, request, purchase_id: str):
        purchase_pk = parse_id(purchase_id)
        serializer = RefundInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return booked_answer(request, refund_answer, lambda request_key: refund_create(
            purchase_id=purchase_pk, **serializer.validated_data, acting_user=request.user, request_key=request_key))


class BillPlanCreateView(APIView):
    @extend_schema(request=BillPlanInSerializer, responses={201: PlanSerializer}, parameters=[IDEMPOTENCY],
                   operation_id="statement_installment_plan_create")
    def post(self, request, statement_id: str):
        statement_pk = parse_id(statement_id)
        serializer = BillPlanInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        plan = bill_installment_create(statement_id=statement_pk, periods=serializer.validated_data["installments"],
                                       acting_user=request.user)
        return Response(PlanSerializer(plan).data, status=201)


class InstallmentListView(ListAPIView):
    serializer_class = InstallmentSerializer

    @extend_schema(parameters=[OpenApiParameter("status", str, enum=list(selectors.INSTALLMENT_FILTERS))],
                   operation_id="installments_list")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        account = _account_or_404(self.kwargs["account_id"])
        status = self.request.query_params.get("status")
        if status is not None and status not in selectors.INSTALLMENT_FILTERS:
            raise ValidationError({"status": [f"choose one of {', '.join(selectors.INSTALLMENT_FILTERS)}"]})
        return selectors.installments_for(account.pk, status=status, business_date=self._business_date)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["business_date"] = self._business_date
        return context

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._business_date = business_date_get()


class StatementListView(ListAPIView):
    serializer_class = StatementSerializer

    def get_queryset(self):
        return selectors.statements_for(_account_or_404(self.kwargs["account_id"]).pk)


class PayoffQuoteView(APIView):
    @extend_schema(responses={200: PayoffQuoteSerializer}, operation_id="payoff_quote")
    def get(self, request, account_id: str):
        account = _account_or_404(account_id)
        quote = selectors.payoff_quote(account)
        quote["as_of"] = business_date_get()
        return Response(PayoffQuoteSerializer(quote).data)
