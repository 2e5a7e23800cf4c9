from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import ids, selectors
from .serializers import CreditAccountSerializer, LimitChangeSerializer


def parse_id(raw: str) -> int:
    """Ids are opaque strings; ours are integers written in ASCII digits. Anything else is
    simply not found."""
    value = ids.parse_id(raw)
    if value is None:
        raise NotFound()
    return value


class CreditAccountDetailView(APIView):
    @extend_schema(responses={200: CreditAccountSerializer}, operation_id="accounts_retrieve")
    def get(self, request, account_id: str):
        account = selectors.credit_account_get(parse_id(account_id))
        if account is None:
            raise NotFound()
        return Response(CreditAccountSerializer(account).data)


class LimitChangeListView(ListAPIView):
    serializer_class = LimitChangeSerializer

    def get_queryset(self):
        account = selectors.credit_account_get(parse_id(self.kwargs["account_id"]))
        if account is None:
            raise NotFound()
        return account.limit_changes.select_related("policy_version").order_by("-created_at", "-id")
