"""OpenAPI schema post-processing: the error responses of the contract on every operation.

docs/api.md: every error is ``{"error": {"code", "message", "details"}}`` — 400 malformed or
invalid input, 401/403, 404, 409 conflict (wrong state, duplicate, idempotency), 422 a
business rule refused it. drf-spectacular documents only the success response of each view,
so a client (or a fuzzer) reading the schema would take every error for a contract breach.
This hook adds the error responses, all with the shared ``Error`` component."""

from __future__ import annotations

from typing import Any

ERROR_COMPONENT = {
    "type": "object",
    "description": "Every API error has this shape (docs/api.md, Conventions).",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "snake_case, stable: clients branch on it"},
                "message": {"type": "string", "description": "human-readable, in the request's language"},
                "details": {
                    "type": "object",
                    "description": "for invalid input: field name → list of messages",
                    "additionalProperties": True,
                },
            },
            "required": ["code", "message", "details"],
        },
    },
    "required": ["error"],
}

# status → (description, which operations can return it)
_ALL, _WRITES, _WITH_PATH_ID = "all", "writes", "with_path_id"
ERROR_RESPONSES: dict[str, tuple[str, str]] = {
    "400": ("Malformed or invalid input; `details` names the fields.", _ALL),
    "401": ("No token, or an unknown, revoked or expired token.", _ALL),
    "403": ("The client may not do this (`insufficient_scope`: outside the token's scopes).", _ALL),
    "404": ("No such object (or not visible to this client).", _WITH_PATH_ID),
    "406": ("The `Accept` header asks for something other than JSON.", _ALL),
    "409": ("Conflict: wrong state, duplicate, or an `Idempotency-Key` reused or still running.", _WRITES),
    "415": ("The body is not JSON.", _WRITES),
    "422": ("A business rule refused the request; `code` says which.", _WRITES),
    "429": ("Over the client's request rate (`throttled`); `Retry-After` says when to try again.", _ALL),
}
WRITE_METHODS = {"post", "put", "patch", "delete"}


def _applies(scope: str, method: str, path: str) -> bool:
    if scope == _WRITES:
        return method in WRITE_METHODS
    if scope == _WITH_PATH_ID:
        return "{" in path
    return True


def add_error_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry. Leaves responses a view declared itself.
    Also gives every ``Idempotency-Key`` header the contract's 1–255 characters."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_COMPONENT
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            if method not in {"get", "head", *WRITE_METHODS}:
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "header" and parameter.get("name") == "Idempotency-Key":
                    parameter["schema"] = {"type": "string", "minLength": 1, "maxLength": 255}
            responses = operation.setdefault("responses", {})
            for status, (description, scope) in ERROR_RESPONSES.items():
                if _applies(scope, method, path):
                    responses.setdefault(status, {"description": description, "content": reference})
    return result
