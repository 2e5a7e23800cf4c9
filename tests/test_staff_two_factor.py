"""Staff two-factor sign-in (docs/decisions/0022-staff-two-factor.md), through the real admin
login, django-otp and the middleware: required under the production settings, offered
locally; enrolment, backup codes and a superuser's reset are audited. And the lock-out of one
username across addresses (accounts.security.TallyAxesHandler)."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditEvent
from accounts.two_factor import two_factor_reset

pytestmark = pytest.mark.django_db

LOGIN, INDEX = reverse("admin:login"), reverse("admin:index")
VERIFY, SETUP = reverse("staff-2fa-verify"), reverse("staff-2fa-setup")
CODES = reverse("staff-2fa-backup-codes")


@pytest.fixture
def agent_user():
    user = User.objects.create_user(username="ana", password="right-horse-battery", is_staff=True)
    user.groups.add(Group.objects.get(name="CS agent"))
    return user


@pytest.fixture
def required(settings):
    settings.TALLY_STAFF_2FA_REQUIRED = True


def sign_in(client: Client, username: str = "ana", password: str = "right-horse-battery"):
    return client.post(LOGIN, {"username": username, "password": password, "next": INDEX})


def current_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):06d}"


def later_step(device: TOTPDevice) -> None:
    """The next sign-in happens in a later 30-second step: a TOTP code is accepted once per
    step (replay protection), and the test is faster than 30 seconds."""
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=F("last_t") - 1, throttling_failure_count=0,
                                                    throttling_failure_timestamp=None)
    # a wrong code throttles every device of the member for a second or more: that time has passed
    StaticDevice.objects.filter(user=device.user).update(throttling_failure_count=0, throttling_failure_timestamp=None)
    device.refresh_from_db()


def enrol(client: Client) -> tuple[TOTPDevice, list[str]]:
    page = client.get(SETUP)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="two-factor-qr"' in html and "<svg" in html
    device_id = int(re.search(r'name="device" value="(\d+)"', html).group(1))
    device = TOTPDevice.objects.get(pk=device_id)
    assert re.search(r'id="two-factor-secret">([A-Z2-7]+)<', html)
    response = client.post(SETUP, {"action": "confirm", "device": device_id, "otp_token": current_code(device),
                                   "next": INDEX})
    assert response.status_code == 302 and response["Location"].startswith(CODES)
    shown = client.get(response["Location"]).content.decode()
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", shown)
    assert len(codes) == 10
    assert client.get(CODES).status_code == 302  # shown once
    return TOTPDevice.objects.get(pk=device_id), codes


def test_production_requires_enrolment_before_any_page_then_a_code_at_each_sign_in(agent_user, required):
    client = Client()
    response = sign_in(client)
    assert response.status_code == 302  # the password was right...
    page = client.get(INDEX)
    assert page.status_code == 302 and page["Location"].startswith(SETUP)  # ...but nothing is shown yet
    assert client.get(reverse("admin:complaints_complaint_changelist"))["Location"].startswith(SETUP)
    assert "is required" in client.get(SETUP).content.decode()
    device, codes = enrol(client)
    assert device.confirmed
    assert client.get(INDEX).status_code == 200
    event = AuditEvent.objects.get(action="staff.two_factor_enrolled")
    assert event.actor == agent_user and event.after["backup_codes"] == 10

    # the next sign-in: password, then a code
    client = Client()
    sign_in(client)
    assert client.get(INDEX)["Location"].startswith(VERIFY)
    wrong = client.post(VERIFY, {"otp_token": "000000", "next": INDEX})
    assert wrong.status_code == 200 and 'id="two-factor-error"' in wrong.content.decode()
    assert client.get(INDEX).status_code == 302
    later_step(device)  # (and the wrong code above throttled the device for a second)
    assert client.post(VERIFY, {"otp_token": current_code(device), "next": INDEX})["Location"] == INDEX
    assert client.get(INDEX).status_code == 200

    # a backup code works once
    later_step(device)
    for attempt, expected in ((codes[0], INDEX), (codes[0], None)):
        other = Client()
        sign_in(other)
        response = other.post(VERIFY, {"otp_token": attempt, "next": INDEX})
        if expected:
            assert response.status_code == 302, (attempt, codes, response.content.decode()[-1500:])
            assert response["Location"] == expected
        else:
            assert response.status_code == 200 and other.get(INDEX).status_code == 302
    assert StaticToken.objects.filter(device__user=agent_user).count() == 9


def test_locally_two_factor_is_offered_not_required_but_once_enrolled_it_is_asked(agent_user):
    client = Client()
    sign_in(client)
    assert client.get(INDEX).status_code == 200
    assert 'id="two-factor-link"' in client.get(INDEX).content.decode()
    assert "off for your account" in client.get(SETUP).content.decode()
    device, _codes = enrol(client)
    client = Client()
    sign_in(client)
    assert client.get(INDEX)["Location"].startswith(VERIFY)
    later_step(device)
    client.post(VERIFY, {"otp_token": current_code(device), "next": INDEX})
    assert client.get(INDEX).status_code == 200
    assert "is on for your account" in client.get(SETUP).content.decode()


def test_a_superuser_resets_a_lost_device_and_the_reset_is_audited(agent_user, required):
    client = Client()
    sign_in(client)
    enrol(client)
    root = User.objects.create_superuser("root", password="pw")
    TOTPDevice.objects.create(user=root, name="authenticator app", confirmed=True)
    admin_client = Client()
    admin_client.force_login(root)
    # the superuser verifies too (production): log the device in through the session
    device = TOTPDevice.objects.get(user=root)
    admin_client.post(VERIFY, {"otp_token": current_code(device), "next": INDEX})
    users = reverse("admin:auth_user_changelist")
    assert admin_client.get(users).status_code == 200
    response = admin_client.post(users, {"action": "reset_two_factor", "_selected_action": [agent_user.pk]})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=agent_user).exists()
    event = AuditEvent.objects.get(action="staff.two_factor_reset")
    assert event.actor == root and event.before == {"user": "ana", "enrolled": True}
    # the member enrols again at the next sign-in
    again = Client()
    sign_in(again)
    assert again.get(INDEX)["Location"].startswith(SETUP)


def test_only_a_superuser_may_reset_and_device_rows_are_not_editable(agent_user):
    supervisor = User.objects.create_user(username="sup", password="pw", is_staff=True)
    supervisor.groups.add(Group.objects.get(name="CS supervisor"))
    client = Client()
    client.force_login(supervisor)
    assert client.get(reverse("admin:index")).status_code == 200  # urls (and the admin registry) loaded
    assert not admin.site.is_registered(TOTPDevice) and not admin.site.is_registered(StaticDevice)
    with pytest.raises(PermissionDenied):
        two_factor_reset(user=agent_user, acting_user=supervisor)


def test_one_username_is_locked_after_failures_from_many_addresses(agent_user, settings):
    settings.TALLY_USERNAME_FAILURE_LIMIT = 6
    for n in range(6):  # 2 per address: no address reaches the pair limit of 5
        client = Client(REMOTE_ADDR=f"10.0.{n // 2}.{n}")
        assert sign_in(client, password="wrong").status_code in (200, 429)
    elsewhere = Client(REMOTE_ADDR="10.9.9.9")
    response = sign_in(elsewhere)
    assert response.status_code == 429
    assert "_auth_user_id" not in elsewhere.session
    # another username is unaffected
    User.objects.create_user(username="bo", password="another-good-one", is_staff=True)
    assert sign_in(Client(REMOTE_ADDR="10.9.9.9"), "bo", "another-good-one").status_code == 302
