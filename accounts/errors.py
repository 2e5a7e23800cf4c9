"""The one family of business errors. Services raise these; the API turns each into the
error shape of docs/api.md, the admin into a message. ``code`` is the stable snake_case code."""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise

# A message shown to a person: a string, or a lazy translation (``gettext_lazy``) rendered in
# the language active when it is shown.
Message = str | Promise


class ApplicationError(Exception):
    status_code = 422
    code = "business_rule_violation"

    def __init__(self, message: Message, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = str(message)
        if code:
            self.code = code
        self.details = details or {}


class ValidationFailed(ApplicationError):
    """Input that is well-formed but invalid for the domain (400)."""

    status_code = 400
    code = "invalid_request"


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class Conflict(ApplicationError):
    """Wrong state, duplicate, idempotency (409)."""

    status_code = 409
    code = "conflict"


class BusinessRuleRefused(ApplicationError):
    """A business rule refused the request (422)."""

    status_code = 422


class PermissionRefused(ApplicationError):
    status_code = 403
    code = "permission_denied"


def require_permission(user: object, perm: str, message: Message) -> None:
    """Services check permissions themselves: refuse unless ``user`` (None: the system, which
    holds no staff permission) has ``perm``. Inactive users hold none (Django's has_perm)."""
    has_perm = getattr(user, "has_perm", None)  # a service client (the storefront) holds no staff permission
    if has_perm is None or not has_perm(perm):
        raise PermissionRefused(message)
