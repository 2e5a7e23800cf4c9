"""Login hardening for the back office (docs/decisions/0011-login-lockout-and-sessions.md).

- ``client_ip_address``: the address django-axes counts failed logins against.
- ``lockout_response``: the page a locked-out login gets (HTTP 429, translated).
- ``SessionTimeoutMiddleware``: a staff session ends after ``TALLY_SESSION_IDLE_SECONDS``
  without a request and ``TALLY_SESSION_MAX_AGE_SECONDS`` after login, whatever the activity.
- ``TallyAxesHandler``: besides one username from one address, one username from any
  addresses is locked after ``TALLY_USERNAME_FAILURE_LIMIT`` failures.
- ``StaffTwoFactorMiddleware``: the second step of a staff sign-in (accounts/two_factor.py,
  docs/decisions/0022-staff-two-factor.md).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import logout
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext

from .two_factor import ENROLLED_SESSION_KEY, has_two_factor, two_factor_required

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


class TallyAxesHandler(AxesDatabaseHandler):
    """django-axes' database handler, counting also the failures of one username from every
    address within the cool-off: at ``TALLY_USERNAME_FAILURE_LIMIT`` the username is locked
    wherever the next attempt comes from (a guessing attack spread over many addresses)."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        pair = super().get_failures(request, credentials)
        username = get_client_username(request, credentials)
        if not username:
            return pair
        since = timezone.now() - timedelta(seconds=settings.AXES_COOLOFF_TIME.total_seconds())
        total = (AccessAttempt.objects.filter(username=username, attempt_time__gte=since)
                 .aggregate(total=Sum("failures_since_start"))["total"] or 0)
        if total >= settings.TALLY_USERNAME_FAILURE_LIMIT:
            return max(pair, get_failure_limit(request, credentials))
        return pair


ENROLLED = ENROLLED_SESSION_KEY


def _enrolled(request: HttpRequest) -> bool:
    """Whether the signed-in member of staff has an authenticator: asked once per session
    (the enrolment page sets it), so that reading back-office pages costs no query."""
    session = getattr(request, "session", None)
    if session is None:
        return has_two_factor(request.user)  # type: ignore[arg-type]
    if session.get(ENROLLED) is None:
        session[ENROLLED] = has_two_factor(request.user)  # type: ignore[arg-type]
    return bool(session[ENROLLED])


def staff_may_use_admin(request: HttpRequest) -> bool:
    """``admin.site.has_permission``: an active member of staff, verified by their second factor
    when they have one or when it is required (the middleware below sends them to it first)."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    if getattr(user, "is_verified", lambda: False)():
        return True
    return not two_factor_required() and not _enrolled(request)


class StaffTwoFactorMiddleware:
    """A member of staff signed in with a password alone reaches no back-office page: with a
    confirmed authenticator they are sent to **Verify**; without one, when two-factor sign-in
    is required (production), to **Set up**. The two pages, logout and the admin's JavaScript
    catalogue stay reachable. Must come after django-otp's ``OTPMiddleware``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        redirect = self._redirect(request)
        return redirect if redirect is not None else self.get_response(request)

    def _redirect(self, request: HttpRequest) -> HttpResponse | None:
        admin_root = reverse("admin:index")
        if not request.path.startswith(admin_root):
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_staff or user.is_verified():
            return None
        exempt = {reverse("staff-2fa-verify"), reverse("staff-2fa-setup"), reverse("staff-2fa-backup-codes"),
                  reverse("admin:logout"), reverse("admin:jsi18n"), reverse("admin:login")}
        if request.path in exempt:
            return None
        if _enrolled(request):
            target = reverse("staff-2fa-verify")
        elif two_factor_required():
            target = reverse("staff-2fa-setup")
        else:
            return None
        return HttpResponseRedirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
