"""The read-only admins around the queue: applications, scoring policies (drafts edited and
activated through the services), customers and credit accounts, every admin page."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib import admin as django_admin
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import AuditEvent, CreditAccount, Customer, StaffProfile
from risk.models import PolicyStatus, ScoringPolicy
from risk.services.review_queue import review_case_approve, review_case_claim_next, review_case_reject

from .review_helpers import CHANGELIST, CLAIM_NEXT, case_url, client_for, id_number, message_texts, review_case, staff

pytestmark = pytest.mark.django_db


# --- applications, policies (risk admin) ----------------------------------------------------


def test_applications_are_read_only_and_visible_to_cs_agents(agent, reviewer):
    case = review_case(1)
    application = case.application
    client = client_for(agent)
    listing = client.get(reverse("admin:risk_application_changelist") + "?q=c-1")
    assert listing.status_code == 200
    assert [a.pk for a in listing.context["cl"].result_list] == [application.pk]
    detail = client.get(reverse("admin:risk_application_change", args=[application.pk]))
    assert detail.status_code == 200
    page = detail.content.decode()
    assert "139****0001" in page
    assert id_number(1) not in page
    assert "13900000001" not in page
    assert "BORDERLINE_SCORE" in page
    assert "Months since store customer" in page
    for user in (agent, reviewer):
        c = client_for(user)
        assert c.get(reverse("admin:risk_application_add")).status_code == 403
        assert c.post(reverse("admin:risk_application_change", args=[application.pk]),
                      {"status": "approved"}).status_code == 403
        assert c.get(reverse("admin:risk_application_delete", args=[application.pk])).status_code == 403
    application.refresh_from_db()
    assert application.status == "in_review"


def test_policy_drafts_are_edited_and_activated_through_services(manager, manager2, reviewer):
    active = ScoringPolicy.objects.get(status=PolicyStatus.ACTIVE)
    manager_client = client_for(manager)
    # the active version cannot be edited
    assert manager_client.post(reverse("admin:risk_scoringpolicy_change", args=[active.pk]),
                               {"params_text": "{}", "notes": "x"}).status_code == 403

    response = manager_client.post(reverse("admin:risk_scoringpolicy_new_draft"))
    draft = ScoringPolicy.objects.get(status=PolicyStatus.DRAFT)
    assert response["Location"] == reverse("admin:risk_scoringpolicy_change", args=[draft.pk])
    assert draft.version == active.version + 1
    assert draft.params == active.params

    change_url = reverse("admin:risk_scoringpolicy_change", args=[draft.pk])
    page = manager_client.get(change_url)
    assert page.status_code == 200
    assert "params_text" in page.context["adminform"].form.fields
    assert "status" not in page.context["adminform"].form.fields
    # invalid JSON / unknown keys: form errors, nothing saved
    bad = manager_client.post(change_url, {"params_text": '{"nonsense": 1}', "notes": "bad"})
    assert bad.status_code == 200
    assert "unknown policy parameters" in bad.content.decode()
    params = dict(draft.params, review_deadline_hours=48)
    saved = manager_client.post(change_url, {"params_text": json.dumps(params), "notes": "longer deadline"})
    assert saved.status_code == 302
    draft.refresh_from_db()
    assert draft.params["review_deadline_hours"] == 48
    assert draft.notes == "longer deadline"
    assert AuditEvent.objects.filter(action="policy.draft_updated", object_id=str(draft.pk)).count() == 1

    # reviewers see policies but cannot edit, create or activate
    reviewer_client = client_for(reviewer)
    assert reviewer_client.get(change_url).status_code == 200
    assert reviewer_client.post(change_url, {"params_text": "{}", "notes": ""}).status_code == 403
    assert reviewer_client.post(reverse("admin:risk_scoringpolicy_new_draft")).status_code == 403
    activate_url = reverse("admin:risk_scoringpolicy_activate", args=[draft.pk])
    assert reviewer_client.post(activate_url, {"reason": "x"}).status_code == 403

    # activation needs a reason, and a risk manager who did not author the draft (four eyes)
    other_client = client_for(manager2)
    refused = other_client.post(activate_url, {"reason": ""})
    assert message_texts(refused)[-1] == "Say why this version is activated."
    draft.refresh_from_db()
    assert draft.status == PolicyStatus.DRAFT
    activated = other_client.post(activate_url, {"reason": "longer review deadline"})
    assert activated.status_code == 302
    draft.refresh_from_db()
    active.refresh_from_db()
    assert draft.status == PolicyStatus.ACTIVE
    assert active.status == PolicyStatus.RETIRED
    assert AuditEvent.objects.filter(action="policy.activated", object_id=str(draft.pk)).count() == 1
    assert manager_client.post(change_url, {"params_text": json.dumps(params), "notes": ""}).status_code == 403


# --- customers and accounts (accounts admin) -------------------------------------------------


def test_customer_search_by_full_id_number_uses_the_keyed_hash(reviewer):
    review_case(1)
    review_case(2)
    client = client_for(reviewer)
    response = client.get(reverse("admin:accounts_customer_changelist") + "?q=" + id_number(2))
    assert [c.external_id for c in response.context["cl"].result_list] == ["c-2"]
    response = client.get(reverse("admin:accounts_customer_changelist") + "?q=c-1")
    assert [c.external_id for c in response.context["cl"].result_list] == ["c-1"]
    page = response.content.decode()
    assert "139****0001" in page
    assert id_number(1) not in page


def test_full_id_number_only_for_holders_of_the_permission_and_logged(reviewer):
    review_case(1)
    customer = Customer.objects.get(external_id="c-1")
    reveal_url = reverse("admin:accounts_customer_reveal_id_number", args=[customer.pk])
    change_url = reverse("admin:accounts_customer_change", args=[customer.pk])
    client = client_for(reviewer)
    assert "Show full ID number" not in client.get(change_url).content.decode()
    assert client.post(reveal_url).status_code == 403
    assert not AuditEvent.objects.filter(action="pii.id_number_viewed").exists()

    privileged = client_for(staff("privacy", "CS supervisor", "accounts.view_full_id_number"))
    page = privileged.get(change_url).content.decode()
    assert "Show full ID number" in page
    assert id_number(1) not in page
    assert privileged.get(reveal_url).status_code == 405
    response = privileged.post(reveal_url, {"purpose": "complaint 42"})
    assert response.status_code == 200
    assert id_number(1) in response.content.decode()
    event = AuditEvent.objects.get(action="pii.id_number_viewed")
    assert event.actor.username == "privacy"
    assert event.reason == "complaint 42"
    assert id_number(1) not in str(list(get_messages(response.wsgi_request)))


def test_credit_accounts_are_read_only_for_everyone(reviewer, manager):
    case = review_case(1)
    client_for(reviewer).post(CLAIM_NEXT)
    client_for(reviewer).post(case_url(case, "approve"), {"credit_limit": "2000.00", "note": ""})
    account = CreditAccount.objects.get()
    superuser = staff("root", None, superuser=True)
    for user in (reviewer, manager, superuser):
        client = client_for(user)
        page = client.get(reverse("admin:accounts_creditaccount_change", args=[account.pk]))
        assert page.status_code == 200
        assert page.context["adminform"].form.fields == {}
        assert "ACCOUNT_OPENED" in page.content.decode()  # status and limit history
        assert client.post(reverse("admin:accounts_creditaccount_change", args=[account.pk]),
                           {"credit_limit": "90000.00"}).status_code == 403
        assert client.get(reverse("admin:accounts_creditaccount_add")).status_code == 403
    account.refresh_from_db()
    assert account.credit_limit == Decimal("2000.00")


def test_status_filter_shows_decided_cases_when_asked(reviewer):
    case = review_case(1)
    review_case_claim_next(acting_user=reviewer)
    review_case_reject(case_id=case.pk, reason_code="REVIEW_REJECTED_POLICY", note="n",
                                acting_user=reviewer)
    response = client_for(reviewer).get(CHANGELIST + "?status__exact=decided")
    assert [c.pk for c in response.context["cl"].result_list] == [case.pk]


def test_staff_change_only_their_own_language(reviewer, agent):
    other = staff("someone", "CS agent")
    theirs = StaffProfile.objects.create(user=other, language="zh-hans")
    client = client_for(reviewer)
    add_url = reverse("admin:accounts_staffprofile_add")
    assert client.post(add_url, {"language": "en", "user": other.pk}).status_code == 302
    mine = StaffProfile.objects.get(user=reviewer)
    assert mine.language == "en"
    listing = client.get(reverse("admin:accounts_staffprofile_changelist"))
    assert [p.pk for p in listing.context["cl"].result_list] == [mine.pk]
    assert client.get(add_url).status_code == 403  # one profile each
    # someone else's row is not found for them
    assert client.get(reverse("admin:accounts_staffprofile_change", args=[theirs.pk])).status_code == 302
    assert client.post(reverse("admin:accounts_staffprofile_change", args=[theirs.pk]),
                       {"language": "en"}).status_code == 302
    theirs.refresh_from_db()
    assert theirs.language == "zh-hans"
    changed = client.post(reverse("admin:accounts_staffprofile_change", args=[mine.pk]),
                          {"language": "zh-hans", "user": other.pk})
    assert changed.status_code == 302
    mine.refresh_from_db()
    assert (mine.language, mine.user_id) == ("zh-hans", reviewer.pk)


def test_every_admin_page_renders_for_a_superuser(reviewer):
    """Smoke test of the changelists and detail pages registered by risk and accounts."""
    case = review_case(1)
    review_case_claim_next(acting_user=reviewer)
    review_case_approve(case_id=case.pk, credit_limit=Decimal("2000.00"), note="",
                                 acting_user=reviewer)
    review_case(2)
    StaffProfile.objects.create(user=reviewer, language="en")
    client = client_for(staff("root", None, superuser=True))
    for model in django_admin.site._registry:
        if model._meta.app_label not in ("risk", "accounts"):
            continue
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        assert client.get(reverse(f"{name}_changelist")).status_code == 200, model
        obj = model._default_manager.first()
        if obj is not None:
            assert client.get(reverse(f"{name}_change", args=[obj.pk])).status_code == 200, model
