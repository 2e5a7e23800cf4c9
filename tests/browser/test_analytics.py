"""The charts page in a real browser over a small simulation: the SVGs hold the simulated
history (bars with figures above 0) and the page renders in English and in Simplified Chinese.
Screenshots: ``40-charts-en.png`` and ``40-charts-zh.png``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from playwright.sync_api import expect

from accounts.models import StaffProfile
from config.simulation import simulate
from config.simulation.population import START

from .conftest import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PASSWORD = "browser-pw-1"
DAYS = 40


def chart_values(page, chart: str) -> list[float]:
    return [float(v) for v in page.locator(f"#chart-{chart} rect.bar").evaluate_all(
        "bars => bars.map(b => b.getAttribute('data-value'))")]


def test_the_charts_of_a_simulated_book_in_english_and_chinese(page):
    result = simulate(customers=30, days=DAYS, seed=5, reset=True)
    assert result.audit_violations == []
    user = User.objects.create_user("analyst", password=PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="tally", codename="view_analytics"))
    StaffProfile.objects.update_or_create(user=user, defaults={"language": "en"})

    page.goto("/admin/login/?next=/admin/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(user.username)
    page.click("#analytics-link")  # from the dashboard
    expect(page.locator("#analytics-period")).to_be_visible()

    page.fill("#id_start", START.isoformat())
    page.fill("#id_end", (START + timedelta(days=DAYS - 1)).isoformat())
    page.click("#analytics-range input[type=submit]")
    expect(page.locator("#analytics-period")).to_contain_text(f"From {START.isoformat()}")
    applications = chart_values(page, "applications")
    assert len(applications) > 0 and sum(applications) >= 30  # every simulated customer applied
    assert sum(chart_values(page, "application-reasons")) > 0  # the population's knock-outs
    assert sum(chart_values(page, "restoration")) > 0  # people repaid and got their limit back
    assert page.locator("#chart-roll-rates rect.bar").count() > 0
    assert sum(chart_values(page, "complaints")) > 0
    expect(page.locator("#applications-table")).to_contain_text("approved")
    screenshot(page, "40-charts-en")

    StaffProfile.objects.filter(user=user).update(language="zh-hans")
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    assert sum(chart_values(page, "applications")) == sum(applications)
    expect(page.locator("#chart-applications")).to_be_visible()
    screenshot(page, "40-charts-zh")

    page.goto("/admin/analytics/?start=2026-02-13&end=2026-01-05")
    expect(page.locator("#analytics-errors")).to_be_visible()
    assert page.locator("svg.chart").count() == 0
