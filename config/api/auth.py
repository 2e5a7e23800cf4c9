"""Token authentication of service clients (``Authorization: Token <key>``). Only a SHA-256
of each token is stored (``config.api.models.ApiClient``)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from .clients import api_client_for_token
from .models import ApiClient

KEYWORD = "Token"
# The client the idempotency middleware already looked up for this request (one lookup each).
_RESOLVED = "_tally_api_client"


class InvalidTokenHeader(Exception):
    pass


def token_from(request: HttpRequest) -> str | None:
    """The token of ``Authorization: Token <key>``; None without that header."""
    # DRF's helper reads only ``request.META``: a Django request will do (its stub asks for a DRF one).
    header = authentication.get_authorization_header(request).split()  # type: ignore[arg-type]
    if not header or header[0].lower() != KEYWORD.lower().encode():
        return None
    if len(header) != 2:
        raise InvalidTokenHeader
    try:
        return header[1].decode()
    except UnicodeError as exc:
        raise InvalidTokenHeader from exc


def client_of(request: HttpRequest) -> ApiClient | None:
    """The active client whose token the request carries (looked up once per request)."""
    if not hasattr(request, _RESOLVED):
        try:
            token = token_from(request)
        except InvalidTokenHeader:
            token = None
        setattr(request, _RESOLVED, api_client_for_token(token) if token else None)
    return getattr(request, _RESOLVED)


class ApiClientTokenAuthentication(authentication.BaseAuthentication):
    keyword = KEYWORD

    def authenticate(self, request):
        try:
            token = token_from(request)
        except InvalidTokenHeader as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token header.")) from exc
        if token is None:
            return None
        client = client_of(request._request)
        if client is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        return client, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class IsApiClient(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, ApiClient)


class ApiClientTokenScheme(OpenApiAuthenticationExtension):
    target_class = "config.api.auth.ApiClientTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "Token-based authentication: `Token <key>`"}
