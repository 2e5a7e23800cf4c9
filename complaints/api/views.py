from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.views import parse_id

from .. import selectors
from ..services.closures import closure_request_create
from ..services.complaints import complaint_file
from .serializers import (
    ClosureRequestInSerializer,
    ClosureRequestOutSerializer,
    ComplaintInSerializer,
    ComplaintOutSerializer,
)

IDEMPOTENCY = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
                               description="1–255 characters; replays the first response.")


class ComplaintCreateView(APIView):
    @extend_schema(request=ComplaintInSerializer, responses={201: ComplaintOutSerializer}, parameters=[IDEMPOTENCY],
                   operation_id="complaints_create")
    def post(self, request, *args, **kwargs):
        serializer = ComplaintInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        complaint = complaint_file(**serializer.validated_data, acting_user=request.user)
        return Response(ComplaintOutSerializer(selectors.complaint_get(complaint.pk)).data, status=201)


class ComplaintDetailView(APIView):
    @extend_schema(responses={200: ComplaintOutSerializer}, operation_id="complaints_retrieve")
    def get(self, request, complaint_id: str):
        complaint = selectors.complaint_get(parse_id(complaint_id))
        if complaint is None:
            raise NotFound()
        return Response(ComplaintOutSerializer(complaint).data)


class ClosureRequestCreateView(APIView):
    @extend_schema(request=ClosureRequestInSerializer, responses={201: ClosureRequestOutSerializer},
                   parameters=[IDEMPOTENCY], operation_id="closure_requests_create")
    def post(self, request, account_id: str):
        account_pk = parse_id(account_id)
        serializer = ClosureRequestInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        closure = closure_request_create(account_id=account_pk, **serializer.validated_data,
                                         acting_user=request.user)
        return Response(ClosureRequestOutSerializer(closure).data, status=201)


class ClosureRequestDetailView(APIView):
    @extend_schema(responses={200: ClosureRequestOutSerializer}, operation_id="closure_requests_retrieve")
    def get(self, request, request_id: str):
        closure = selectors.closure_request_get(parse_id(request_id))
        if closure is None:
            raise NotFound()
        return Response(ClosureRequestOutSerializer(closure).data)
