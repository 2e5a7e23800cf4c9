"""Login hardening for the back office (docs/decisions/0011-login-lockout-and-sessions.md).

- ``client_ip_address``: the address django-axes counts failed logins against.
- ``lockout_response``: the page a locked-out login gets (HTTP 429, translated).
- ``SessionTimeoutMiddleware``: a staff session ends after ``TALLY_SESSION_IDLE_SECONDS``
  without a request and ``TALLY_SESSION_MAX_AGE_SECONDS`` after login, whatever the activity.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import logout
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext

LOGIN_AT = "tally_login_at"
SEEN_AT = "tally_seen_at"
# The last-seen time is written at most this often, so that reading pages does not write the
# session row on every request; the idle limit is therefore exact to within this many seconds.
SEEN_RESOLUTION_SECONDS = 60


def client_ip_address(request: HttpRequest) -> str | None:
    proxies = settings.TALLY_TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
                     if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict[str, Any] | None = None) -> HttpResponse:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {
        **admin.site.each_context(request),
        "title": gettext("Login locked"),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": minutes,
    }
    return render(request, "admin/locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)


class SessionTimeoutMiddleware:
    """Log out a session idle for too long or older than the maximum age. Only sessions with
    a logged-in user are concerned (the API authenticates by token and has no session)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = int(time.time())
            session = request.session
            login_at = session.get(LOGIN_AT)
            seen_at = session.get(SEEN_AT)
            idle_limit = settings.TALLY_SESSION_IDLE_SECONDS
            max_age = settings.TALLY_SESSION_MAX_AGE_SECONDS
            if login_at is None or seen_at is None:
                session[LOGIN_AT] = login_at or now
                session[SEEN_AT] = now
            elif now - seen_at > idle_limit or now - login_at > max_age:
                idle = now - seen_at > idle_limit
                logout(request)
                messages.warning(request, gettext(
                    "You were logged out after %(minutes)s minutes without activity. Please log in again.")
                    % {"minutes": idle_limit // 60} if idle else gettext(
                    "Your session has ended after %(hours)s hours. Please log in again.")
                    % {"hours": max_age // 3600})
            elif now - seen_at >= SEEN_RESOLUTION_SECONDS:
                session[SEEN_AT] = now
        response = self.get_response(request)
        # A login in this very request: its clock starts now (the session is saved after this).
        # Only a staff login: an API call leaves its ApiClient (token auth) on request.user, and
        # writing the session then would save a new session row on every storefront request.
        user = getattr(request, "user", None)
        if (isinstance(user, AbstractBaseUser) and user.is_authenticated and hasattr(request, "session")
                and LOGIN_AT not in request.session):
            now = int(time.time())
            request.session[LOGIN_AT] = now
            request.session[SEEN_AT] = now
        return response
