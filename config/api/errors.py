"""One error shape for the whole API: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.response import Response

from accounts.errors import ApplicationError, Message

from .auth import InsufficientScope

logger = logging.getLogger("tally.api")


def _plain(value: Any) -> Any:
    """Translated (lazy) texts become plain strings: the body is JSON, and may be stored for replay."""
    if isinstance(value, Promise):
        return str(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def error_body(code: str, message: Message, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": str(message), "details": _plain(details or {})}}


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation errors → ``{"customer.id_number": ["..."]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if key != "non_field_errors" else "non_field_errors"
            flat.update(flatten_errors(value, f"{prefix}.{name}" if prefix else str(name)))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            flat[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                flat.update(flatten_errors(item, f"{prefix}[{index}]"))
    else:
        flat[prefix or "non_field_errors"] = [str(detail)]
    return flat


class KeyAnswered(Exception):
    """A keyed booking left undone because its ``Idempotency-Key`` already has an answer (a
    replay, or 409 for a key reused with another body) or is held by a request still running
    (409): ``response`` is what the client gets (config/api/idempotency.py)."""

    def __init__(self, response: HttpResponse):
        super().__init__(response.status_code)
        self.response = response


def api_exception_handler(exc, context):
    if isinstance(exc, KeyAnswered):
        return exc.response
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, exceptions.ValidationError):
        details = flatten_errors(exc.detail)
        fields = ", ".join(sorted(details))
        return Response(error_body("invalid_request", _("Invalid input: %(fields)s.") % {"fields": fields}, details), status=400)
    if isinstance(exc, exceptions.ParseError):
        return Response(error_body("malformed_request", str(exc.detail)), status=400)
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return Response(error_body("unsupported_media_type", str(exc.detail)), status=415)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response = Response(error_body("not_authenticated", str(exc.detail)), status=401)
        response["WWW-Authenticate"] = "Token"
        return response
    if isinstance(exc, InsufficientScope):
        detail = exc.detail if isinstance(exc.detail, dict) else {}
        scope = detail.get("required_scope")
        return Response(error_body("insufficient_scope", _("This token's scopes do not allow this request."),
                                   {"required_scope": str(scope) if scope is not None else None,
                                    "scopes": [str(s) for s in detail.get("scopes") or []]}), status=403)
    if isinstance(exc, exceptions.PermissionDenied | PermissionDenied):
        return Response(error_body("permission_denied", _("You do not have permission to do this.")), status=403)
    if isinstance(exc, exceptions.NotFound | Http404):
        return Response(error_body("not_found", _("Not found.")), status=404)
    if isinstance(exc, exceptions.MethodNotAllowed):
        return Response(error_body("method_not_allowed", str(exc.detail)), status=405)
    if isinstance(exc, exceptions.NotAcceptable):
        return Response(error_body("not_acceptable", str(exc.detail)), status=406)
    if isinstance(exc, exceptions.Throttled):
        wait = max(1, math.ceil(exc.wait or 1))
        response = Response(error_body("throttled", _("Too many requests: try again in %(seconds)s seconds.")
                                       % {"seconds": wait}, {"retry_after": wait}), status=429)
        response["Retry-After"] = str(wait)
        return response
    if isinstance(exc, exceptions.APIException):
        return Response(error_body("error", str(exc.detail)), status=exc.status_code)
    logger.exception("unhandled API error", exc_info=exc)
    return Response(error_body("internal_error", _("An internal error occurred; nothing was changed.")), status=500)


def json_404(request, exception=None):
    return JsonResponse(error_body("not_found", _("Not found.")), status=404)


def json_500(request):
    return JsonResponse(error_body("internal_error", _("An internal error occurred.")), status=500)


def json_400(request, exception=None):
    return JsonResponse(error_body("bad_request", _("Bad request.")), status=400)
