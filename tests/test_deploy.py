"""Deployable (docs/deploy.md): under gunicorn with the production settings and their
variables, the styled admin is served (whitenoise's static files) and a member of staff signs
in with a password and then a second factor. Nothing mocked: a real gunicorn process on a free
port, against the test database."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.test_celery_worker import _test_database_url
from tests.test_fail_closed import PRODUCTION_VARIABLES

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """HTTP over the loopback as a browser behind a TLS proxy: X-Forwarded-Proto https, and the
    Secure cookies kept by hand."""

    def __init__(self, port: int):
        self.port, self.cookies = port, SimpleCookie()

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, dict, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Host": "127.0.0.1", "X-Forwarded-Proto": "https",
                   "Cookie": "; ".join(f"{k}={m.value}" for k, m in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form)
            headers.update({"Content-Type": "application/x-www-form-urlencoded", "Referer": "https://127.0.0.1/admin/",
                            "Origin": "https://127.0.0.1"})
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        for value in response.headers.get_all("Set-Cookie") or []:
            self.cookies.load(value)
        return response.status, dict(response.headers), response.read().decode(errors="replace")

    def csrf(self) -> str:
        return self.cookies["csrftoken"].value


def test_gunicorn_serves_the_styled_admin_with_two_factor_under_production_settings():
    user = User.objects.create_superuser("root", password=None)
    # a hash production can check (the test settings hash with MD5, which production does not accept)
    user.password = PBKDF2PasswordHasher().encode("a-long-production-password", "saltsaltsalt", iterations=1000)
    user.save(update_fields=["password"])
    device = TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=True)
    port = _free_port()
    with tempfile.TemporaryDirectory() as static_root:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TALLY_", "DJANGO_"))}
        env.update(PRODUCTION_VARIABLES, DATABASE_URL=_test_database_url(), ALLOWED_HOSTS="127.0.0.1",
                   CSRF_TRUSTED_ORIGINS="https://127.0.0.1", TALLY_STATIC_ROOT=static_root)
        env.pop("DJANGO_SETTINGS_MODULE", None)  # the default: production
        collected = subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=ROOT, env=env,
                                   capture_output=True, text=True, timeout=300, check=False)
        assert collected.returncode == 0, collected.stderr
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--worker-class", "gthread", "--workers", "1",
             "--threads", "2", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            browser = Browser(port)
            for _ in range(150):
                try:
                    if browser.request("GET", "/health/")[0] == 200:
                        break
                except OSError:
                    pass
                assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
                time.sleep(0.2)
            status, _headers, page = browser.request("GET", "/ready/?format=json")
            assert status == 200, page
            status, headers, page = browser.request("GET", "/admin/login/")
            assert status == 200 and "X-Request-ID" in headers
            stylesheet = re.search(r'href="(/static/admin/css/base\.[0-9a-f]+\.css)"', page)
            assert stylesheet, "the admin's stylesheet under a cache-busting name"
            css_status, css_headers, css = browser.request("GET", stylesheet.group(1))
            assert css_status == 200 and css_headers["Content-Type"].startswith("text/css") and "body" in css
            assert "max-age=315360000" in css_headers.get("Cache-Control", "")

            status, headers, _ = browser.request("POST", "/admin/login/?next=/admin/", {
                "csrfmiddlewaretoken": browser.csrf(), "username": "root",
                "password": "a-long-production-password", "next": "/admin/"})
            assert status == 302, _
            status, headers, _ = browser.request("GET", "/admin/")
            assert status == 302 and headers["Location"].startswith("/admin/2fa/verify/")
            status, _headers, page = browser.request("GET", headers["Location"])
            assert status == 200 and "authenticator app" in page
            code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):06d}"
            status, headers, _ = browser.request("POST", "/admin/2fa/verify/", {
                "csrfmiddlewaretoken": browser.csrf(), "otp_token": code, "next": "/admin/"})
            assert (status, headers.get("Location")) == (302, "/admin/")
            status, _headers, page = browser.request("GET", "/admin/")
            assert status == 200 and 'id="widget-last-close"' in page
            assert browser.request("GET", "/api/v1/accounts/1")[0] == 401
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
