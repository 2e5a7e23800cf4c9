"""Token authentication of service clients (``Authorization: Token <key>``) and their scopes.
Only a SHA-256 of each token is stored (``config.api.models.ApiClient``).

**Scopes** (docs/api.md, "Scopes"): an endpoint declares the scope its writes need as the
class attribute ``required_scope`` of its view (``required_scope = "repayments"``); every
GET/HEAD/OPTIONS needs the ``read`` scope instead. ``HasRequiredScope`` — in
``REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"]`` — refuses a client without that scope with
403 ``insufficient_scope``, and refuses every write of a view that declares no scope (fail
closed; tests/test_api_scopes.py checks that every write endpoint declares one)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from accounts import logs

from .clients import api_client_for_token
from .models import READ_SCOPE, SCOPES, ApiClient

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
        logs.bind(user=client.audit_label)
        return client, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class IsApiClient(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, ApiClient)


class InsufficientScope(exceptions.PermissionDenied):
    default_detail = _("This token's scopes do not allow this request.")
    default_code = "insufficient_scope"


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def scope_needed(view_class: type | None, method: str) -> str | None:
    """The scope a request of ``method`` to ``view_class`` needs: ``read`` for a read, the view's
    ``required_scope`` for a write (None when it declares none: such a write is refused)."""
    if method.upper() in READ_METHODS:
        return READ_SCOPE
    scope = getattr(view_class, "required_scope", None)
    if scope is not None and scope not in SCOPES:
        raise ValueError(f"{view_class}.required_scope {scope!r} is not one of {SCOPES}")
    return scope


class HasRequiredScope(permissions.BasePermission):
    """403 ``insufficient_scope`` unless the client holds the scope the request needs."""

    def has_permission(self, request, view) -> bool:
        client = request.user
        if not isinstance(client, ApiClient):
            return True  # IsApiClient answers
        scope = scope_needed(type(view), request.method)
        if scope is None or not client.has_scope(scope):
            raise InsufficientScope(detail={"required_scope": scope, "scopes": client.scopes})
        return True


class ApiClientTokenScheme(OpenApiAuthenticationExtension):
    target_class = "config.api.auth.ApiClientTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "Token-based authentication: `Token <key>`"}
