"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

No browser is downloaded (``playwright install`` is never run): the tests use the system
``chromium`` (``make test`` installs it with apt-get when it is missing and we are root).
Without it the tests fail — never skip — with the command that installs it.
Screenshots are written to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import sync_playwright
from rest_framework.test import APIClient

from accounts.business_day import business_date_set
from complaints.tests.helpers import ensure_grants
from config.api.clients import api_client_create_or_rotate

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
INSTALL_HINT = ("the browser tests need Debian's Chromium: `sudo apt-get install -y chromium` "
                "(or set TALLY_CHROMIUM to a Chromium/Chrome binary)")


def chromium_path() -> str:
    configured = os.environ.get("TALLY_CHROMIUM")
    candidates = [configured] if configured else ["chromium", "chromium-browser", "google-chrome"]
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"No Chromium found ({', '.join(candidates)}): {INSTALL_HINT}", pytrace=False)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """One Chromium per test module. Playwright's sync API keeps an event loop running in
    this thread while it is open, so Django's async-safety guard would refuse every ORM call
    of the test (the ORM is used strictly synchronously here): the guard is lifted for as
    long as the browser is open, and the browser is closed before the next module's tests."""
    executable = chromium_path()
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=["--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, live_server) -> Iterator:
    """A fresh browser context (no cookies) per test, in English, 1280 px wide."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=live_server.url, locale="en-US",
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def api(transactional_db) -> APIClient:
    """The storefront's API client on a business date of today, the staff groups granted."""
    ensure_grants()
    business_date_set(new_date=timezone.localdate(), acting_user=None, reason="browser test")
    _client, token = api_client_create_or_rotate(name="storefront")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def screenshot(page, name: str) -> Path:
    """The whole page as a reader sees it from the top: the admin's navigation is sticky (it
    follows the window), so a full-page capture taken scrolled down would draw it halfway down."""
    path = ARTIFACTS / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)
    return path
