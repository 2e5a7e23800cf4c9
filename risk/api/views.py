from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.views import parse_id

from ..models import Application
from ..services.applications import ApplicantData, application_submit
from .serializers import ApplicationInSerializer, ApplicationOutSerializer

IDEMPOTENCY_PARAM = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
                                     description="1–255 characters; replays the first response.")


def _application_for_output(pk) -> Application:
    return Application.objects.select_related("policy", "customer").get(pk=pk)


class ApplicationCreateView(APIView):
    @extend_schema(request=ApplicationInSerializer, responses={201: ApplicationOutSerializer},
                   parameters=[IDEMPOTENCY_PARAM], operation_id="applications_create")
    def post(self, request, *args, **kwargs):
        serializer = ApplicationInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        customer = data["customer"]
        application = application_submit(
            kind=data["kind"],
            applicant=ApplicantData(**customer),
            card_token=data["repayment_card_token"],
            acting_user=request.user,
        )
        return Response(ApplicationOutSerializer(_application_for_output(application.pk)).data, status=201)


class ApplicationDetailView(APIView):
    @extend_schema(responses={200: ApplicationOutSerializer}, operation_id="applications_retrieve")
    def get(self, request, application_id: str):
        application = get_object_or_404(Application.objects.select_related("policy", "customer"),
                                        pk=parse_id(application_id))
        return Response(ApplicationOutSerializer(application).data)
