"""Token authentication of service clients (``Authorization: Token <key>``). Only a SHA-256
of each token is stored (accounts.ApiClient)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from accounts.models import ApiClient
from accounts.services import api_token_hash


class ApiClientTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header."))
        try:
            token = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token header.")) from exc
        client = ApiClient.objects.filter(token_hash=api_token_hash(token), is_active=True).first()
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
