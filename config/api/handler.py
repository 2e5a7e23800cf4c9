"""The storefront API's own request handler: a request under ``/api/v1/`` passes through
``API_MIDDLEWARE`` alone — the layers the API uses (security headers, the request's id and
log context, the body size limit, the language from ``Accept-Language``, the
``Idempotency-Key``) — and not the back office's sessions, CSRF, staff login and two-factor,
messages, login lockout and static files, which an API request never uses
(docs/decisions/0042-api-middleware.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

API_PREFIX = "/api/v1/"


class ApiHandler(WSGIHandler):
    """Django's WSGI handler with ``API_MIDDLEWARE`` as its middleware."""

    def load_middleware(self, is_async: bool = False) -> None:
        site = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE  # read once, here, at process start
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = site


def route(site: WSGIHandler) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """The WSGI application: API requests to an ``ApiHandler``, everything else to ``site``."""
    api = ApiHandler()

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        handler = api if environ.get("PATH_INFO", "").startswith(API_PREFIX) else site
        return handler(environ, start_response)

    return application
