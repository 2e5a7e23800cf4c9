"""Staff two-factor authentication with django-otp (docs/decisions/0022-staff-two-factor.md).

After the password (the admin's login form, behind django-axes), a member of staff who has a
confirmed authenticator app (TOTP) must give its 6-digit code — or one of the 10 single-use
backup codes — on **Verify**; one who has none is sent to **Set up** under the production
settings (``TALLY_STAFF_2FA_REQUIRED``), where the app is enrolled by scanning a QR code and
typing one code, and the backup codes are shown once. Locally the setup is offered, not
required. ``accounts.security.StaffTwoFactorMiddleware`` does the sending.

Enrolment, a new set of backup codes and a reset by a superuser are written to the audit
trail. A reset removes the member's devices: they enrol again at their next sign-in."""

from __future__ import annotations

import base64
import io
from typing import Any

import django_otp
import segno
from django import forms
from django.conf import settings
from django.contrib.admin import site as admin_site
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .audit_trail import Actor, audit_record
from .ids import parse_id

TOTP_NAME = "authenticator app"
BACKUP_NAME = "backup codes"
_NEW_CODES = "tally_new_backup_codes"
ENROLLED_SESSION_KEY = "tally_2fa_enrolled"  # accounts.security caches has_two_factor there


def has_two_factor(user: AbstractBaseUser) -> bool:
    """Whether the member of staff has a confirmed authenticator app."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def two_factor_required() -> bool:
    return bool(settings.TALLY_STAFF_2FA_REQUIRED)


def _new_backup_codes(user: AbstractBaseUser) -> list[str]:
    device, _created = StaticDevice.objects.get_or_create(user=user, name=BACKUP_NAME, defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(settings.TALLY_BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def two_factor_enrol_start(*, user: AbstractBaseUser) -> TOTPDevice:
    """The member's unconfirmed authenticator (a new secret each time setup is opened)."""
    with transaction.atomic(durable=True):
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)


def two_factor_enrol_confirm(*, user: AbstractBaseUser, device_id: int, token: str) -> tuple[TOTPDevice, list[str]] | None:
    """Confirm the authenticator when ``token`` is its current code: any earlier one is
    replaced, backup codes are issued (returned once), the enrolment is audited. None when the
    code is wrong (nothing changes)."""
    with transaction.atomic(durable=True):
        device = TOTPDevice.objects.select_for_update().filter(pk=device_id, user=user, confirmed=False).first()
        if device is None or not device.verify_token(token):
            return None
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _new_backup_codes(user)
        audit_record(acting_user=user, action="staff.two_factor_enrolled", obj=user,
                     after={"user": user.get_username(), "device": TOTP_NAME, "backup_codes": len(codes)})
    return device, codes


def two_factor_backup_codes_renew(*, user: AbstractBaseUser) -> list[str]:
    with transaction.atomic(durable=True):
        codes = _new_backup_codes(user)
        audit_record(acting_user=user, action="staff.two_factor_backup_codes_renewed", obj=user,
                     after={"user": user.get_username(), "backup_codes": len(codes)})
    return codes


def two_factor_reset(*, user: AbstractBaseUser, acting_user: Actor, reason: str = "") -> int:
    """Remove the member's authenticator and backup codes (a superuser's action); they enrol
    again at their next sign-in. Returns how many devices were removed."""
    acting = acting_user if isinstance(acting_user, AbstractBaseUser) else None
    if acting is None or not getattr(acting, "is_superuser", False):
        raise PermissionDenied
    with transaction.atomic(durable=True):
        removed = TOTPDevice.objects.filter(user=user).delete()[0] + StaticDevice.objects.filter(user=user).delete()[0]
        audit_record(acting_user=acting_user, action="staff.two_factor_reset", obj=user,
                     before={"user": user.get_username(), "enrolled": removed > 0}, after={"enrolled": False},
                     reason=reason)
    return removed


# --- views -------------------------------------------------------------------------------------


class TokenForm(forms.Form):
    otp_token = forms.CharField(label=_("Code"), max_length=16, strip=True,
                                widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True,
                                                              "inputmode": "numeric"}))


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return reverse("admin:index")


def _context(request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
    return {**admin_site.each_context(request), "title": title, "next": _next_url(request), **extra}


def _staff_only(request: HttpRequest) -> AbstractBaseUser:
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff):
        raise PermissionDenied
    return user


@sensitive_post_parameters("otp_token")
@never_cache
@login_required(login_url="admin:login")
def verify_view(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code of the authenticator app, or a backup code."""
    user = _staff_only(request)
    if getattr(request.user, "is_verified", lambda: False)():
        return HttpResponseRedirect(_next_url(request))
    if not has_two_factor(user):  # reset meanwhile: set it up again (or go on, where it is optional)
        request.session[ENROLLED_SESSION_KEY] = False
        return HttpResponseRedirect(reverse("staff-2fa-setup") if two_factor_required() else _next_url(request))
    form = TokenForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        device = django_otp.match_token(user, form.cleaned_data["otp_token"])
        if device is not None:
            django_otp.login(request, device)
            return HttpResponseRedirect(_next_url(request))
        error = gettext("That code is not valid (or was already used). Try the current code of your app.")
    return render(request, "admin/two_factor/verify.html",
                  _context(request, gettext("Two-factor sign-in"), form=form, error=error))


@sensitive_post_parameters("otp_token")
@never_cache
@login_required(login_url="admin:login")
def setup_view(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app (or, once enrolled, renew the backup codes)."""
    user = _staff_only(request)
    enrolled = has_two_factor(user)
    if enrolled and not getattr(request.user, "is_verified", lambda: False)():
        # re-enrolling needs the current second factor first
        return HttpResponseRedirect(f"{reverse('staff-2fa-verify')}?next={reverse('staff-2fa-setup')}")
    if request.method == "POST" and request.POST.get("action") == "renew" and enrolled:
        request.session[_NEW_CODES] = two_factor_backup_codes_renew(user=user)
        return HttpResponseRedirect(reverse("staff-2fa-backup-codes"))
    form = TokenForm(request.POST or None)
    error = None
    if request.method == "POST" and request.POST.get("action") == "confirm" and form.is_valid():
        device_id = parse_id(request.POST.get("device", "")) or 0
        confirmed = two_factor_enrol_confirm(user=user, device_id=device_id, token=form.cleaned_data["otp_token"])
        if confirmed is not None:
            device, codes = confirmed
            django_otp.login(request, device)
            request.session[ENROLLED_SESSION_KEY] = True
            request.session[_NEW_CODES] = codes
            return HttpResponseRedirect(f"{reverse('staff-2fa-backup-codes')}?next={_next_url(request)}")
        error = gettext("That code does not match. Check the app's clock and type the code it shows now.")
    # a wrong code keeps the secret the app has just scanned; opening the page makes a new one
    posted = parse_id(request.POST.get("device", "")) if error else None
    device = (TOTPDevice.objects.filter(user=user, confirmed=False, pk=posted).first() if posted else None) \
        or two_factor_enrol_start(user=user)
    svg = io.BytesIO()
    segno.make(device.config_url, error="m").save(svg, kind="svg", scale=5, border=2, xmldecl=False)
    secret = _base32(device.bin_key)
    return render(request, "admin/two_factor/setup.html", _context(
        request, gettext("Two-factor authentication"), form=form, error=error, device=device, enrolled=enrolled,
        required=two_factor_required(), secret=secret,
        qr_svg=mark_safe(svg.getvalue().decode()),  # noqa: S308 - generated here from our own URL
    ))


@never_cache
@login_required(login_url="admin:login")
def backup_codes_view(request: HttpRequest) -> HttpResponse:
    """The backup codes just issued, shown once."""
    _staff_only(request)
    codes = request.session.pop(_NEW_CODES, None)
    if not codes:
        return HttpResponseRedirect(reverse("staff-2fa-setup"))
    return render(request, "admin/two_factor/backup_codes.html",
                  _context(request, gettext("Your backup codes"), codes=codes))


def _base32(key: bytes) -> str:
    return base64.b32encode(key).decode().rstrip("=")
