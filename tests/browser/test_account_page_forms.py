"""The credit account page's own forms work in a real browser: the risk manager's freeze and
the agent's repayment-card change post to their own views (the page has no outer form that
would swallow them). The database holds the result afterwards."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.business_day import business_date_set
from accounts.models import AuditEvent, CreditAccount
from complaints.tests.helpers import ensure_grants
from tests.credit_lines import open_account

from .conftest import screenshot
from .test_admin_flows import log_in, staff_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def account(transactional_db) -> CreditAccount:
    ensure_grants()
    business_date_set(new_date=timezone.localdate(), acting_user=None, reason="browser test")
    return open_account("tok_card_closed", n=1)


def test_a_risk_manager_freezes_and_an_agent_changes_the_card_from_the_account_page(page, account):
    manager = staff_user("mona", "Risk manager")
    log_in(page, manager)
    page.goto(f"/admin/accounts/creditaccount/{account.pk}/change/")
    page.fill("#freeze-reason", "card testing pattern seen by the fraud team")
    page.click("#freeze-form input[type=submit]")
    expect(page.locator("#unfreeze-form")).to_be_visible()
    account.refresh_from_db()
    assert account.status == "frozen"
    assert AuditEvent.objects.filter(action="account.status_changed", object_id=str(account.pk), actor=manager).exists()

    page.context.clear_cookies()
    agent = staff_user("alan", "CS agent")
    log_in(page, agent)
    page.goto(f"/admin/accounts/creditaccount/{account.pk}/change/")
    page.fill("#card-token", "tok_ok")
    page.fill("#card-reason", "customer called with a new card")
    page.click("#repayment-card-form input[type=submit]")
    expect(page.locator("#repayment-card")).to_contain_text("tok_ok"[-2:])
    screenshot(page, "07-account-page-card-changed")
    account.refresh_from_db()
    assert account.repayment_card_token == "tok_ok"
    assert AuditEvent.objects.filter(action="account.repayment_card_changed", object_id=str(account.pk)).exists()
