"""Login hardening (docs/decisions/0011-login-lockout-and-sessions.md): django-axes locks a
username + IP pair out after 5 failed logins for 30 minutes; staff sessions end after 30
minutes idle and 8 hours after login. Through the real admin login form and middleware."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

LOGIN = reverse("admin:login")
INDEX = reverse("admin:index")


@pytest.fixture
def staff_user():
    user = User.objects.create_user(username="ana", password="right-horse-battery", is_staff=True)
    user.groups.add(Group.objects.get(name="CS agent"))
    return user


def attempt(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password, "next": INDEX})


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_five_failed_logins_lock_the_pair_out_and_the_right_password_is_then_refused(staff_user):
    client = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(4):
        response = attempt(client, "ana", "wrong")
        assert response.status_code == 200  # the login form again, with its error
        assert not logged_in(client)
    response = attempt(client, "ana", "wrong")  # the 5th failure locks
    assert response.status_code == 429
    assert AccessAttempt.objects.get(username="ana", ip_address="10.0.0.1").failures_since_start == 5

    response = attempt(client, "ana", "right-horse-battery")
    assert response.status_code == 429
    assert not logged_in(client)
    html = response.content.decode()
    assert 'id="login-locked"' in html
    assert "locked after 5 failed attempts" in html
    assert "Try again in 30 minutes" in html
    assert "right-horse-battery" not in html


def test_a_lockout_affects_neither_other_users_nor_the_same_user_elsewhere(staff_user):
    User.objects.create_user(username="bo", password="another-good-one", is_staff=True)
    attacker = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(5):
        attempt(attacker, "ana", "wrong")
    assert attempt(attacker, "ana", "right-horse-battery").status_code == 429

    colleague = Client(REMOTE_ADDR="10.0.0.1")
    assert attempt(colleague, "bo", "another-good-one").status_code == 302
    assert logged_in(colleague)

    elsewhere = Client(REMOTE_ADDR="10.0.0.2")
    assert attempt(elsewhere, "ana", "right-horse-battery").status_code == 302
    assert logged_in(elsewhere)


def test_the_lockout_ends_after_the_cool_off_and_a_success_resets_the_count(staff_user):
    client = Client(REMOTE_ADDR="10.0.0.1")
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(5):
            attempt(client, "ana", "wrong")
        clock.shift(timedelta(minutes=29))
        assert attempt(client, "ana", "right-horse-battery").status_code == 429
        clock.shift(timedelta(minutes=2))
        assert attempt(client, "ana", "right-horse-battery").status_code == 302
        assert logged_in(client)
    assert not AccessAttempt.objects.filter(username="ana").exists()


def test_failures_below_the_limit_are_forgotten_after_a_successful_login(staff_user):
    client = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(4):
        attempt(client, "ana", "wrong")
    assert attempt(client, "ana", "right-horse-battery").status_code == 302
    client.post(reverse("admin:logout"))
    for _ in range(4):
        assert attempt(client, "ana", "wrong").status_code == 200
    assert attempt(client, "ana", "right-horse-battery").status_code == 302


def test_superusers_see_the_lockouts_in_the_admin_and_staff_do_not(staff_user):
    for _ in range(5):
        attempt(Client(REMOTE_ADDR="10.0.0.9"), "ana", "wrong")
    root = User.objects.create_superuser(username="root", password="x-root-pass-1")
    admin_client = Client()
    admin_client.force_login(root)
    response = admin_client.get(reverse("admin:axes_accessattempt_changelist"))
    assert response.status_code == 200
    assert "10.0.0.9" in response.content.decode()

    agent = User.objects.create_user(username="agent-x", password="pw", is_staff=True)
    agent.groups.add(Group.objects.get(name="CS supervisor"))
    agent_client = Client()
    agent_client.force_login(agent)
    assert agent_client.get(reverse("admin:axes_accessattempt_changelist")).status_code == 403


def test_an_idle_session_is_logged_out(staff_user):
    client = Client(REMOTE_ADDR="10.0.0.1")
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        assert attempt(client, "ana", "right-horse-battery").status_code == 302
        assert client.get(INDEX).status_code == 200
        clock.shift(timedelta(minutes=29))
        assert client.get(INDEX).status_code == 200  # activity keeps it alive
        clock.shift(timedelta(minutes=29))
        assert client.get(INDEX).status_code == 200
        clock.shift(timedelta(minutes=31))
        response = client.get(INDEX)
        assert response.status_code == 302
        assert response["Location"].startswith(LOGIN)
        assert not logged_in(client)
        login_page = client.get(response["Location"])
        assert "logged out after 30 minutes without activity" in login_page.content.decode()


def test_a_busy_session_still_ends_eight_hours_after_login(staff_user):
    client = Client(REMOTE_ADDR="10.0.0.1")
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        assert attempt(client, "ana", "right-horse-battery").status_code == 302
        for _ in range(20):  # a request every 20 minutes for 6h40
            clock.shift(timedelta(minutes=20))
            assert client.get(INDEX).status_code == 200
        for _ in range(5):  # 8h20 after login, never idle
            clock.shift(timedelta(minutes=20))
            client.get(INDEX)
        assert not logged_in(client)
        assert client.get(INDEX).status_code == 302
