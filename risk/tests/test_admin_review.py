"""The manual review queue in the admin, end to end on real PostgreSQL (docs/rules.md §3):
claim next, the case page, approve / high-limit confirmation / reject / escalate / release,
permissions, idle claims, concurrency, queue filters and a pinned changelist query count.
Also the read-only admins around it (applications, policies, customers, accounts)."""

from __future__ import annotations

import importlib
import json
import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib import admin as django_admin
from django.contrib.auth.models import Group, Permission, User
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.business_day import business_date_set
from accounts.models import AuditEvent, CreditAccount, Customer, StaffProfile
from risk.models import Application, PolicyStatus, ReviewCase, ReviewStatus, ScoringPolicy
from risk.policy import DEFAULT_POLICY
from risk.rules import id_check_char
from risk.services.applications import ApplicantData, application_submit
from risk.services.review_queue import review_case_approve, review_case_claim_next, review_case_reject

pytestmark = pytest.mark.django_db

BUSINESS_DATE = date(2026, 11, 20)
STAFF_GROUPS = importlib.import_module("accounts.migrations.0003_staff_groups").GROUPS

CHANGELIST = reverse("admin:risk_reviewcase_changelist")
CLAIM_NEXT = reverse("admin:risk_reviewcase_claim_next")


# --- data -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def reference_data(db):
    """Policy v1 and the business date. A transactional test elsewhere may have flushed the
    migration data, so v1 is recreated when missing."""
    if not ScoringPolicy.objects.filter(status=PolicyStatus.ACTIVE).exists():
        ScoringPolicy.objects.create(version=1, status=PolicyStatus.ACTIVE, params=DEFAULT_POLICY.to_json())
    business_date_set(new_date=BUSINESS_DATE, acting_user=None, reason="test")


def id_number(n: int) -> str:
    first17 = f"11010519491231{n:03d}"
    return first17 + id_check_char(first17)


def applicant(n: int, **overrides) -> ApplicantData:
    """Borderline: 300 + 120 (≥36 months) + 40 (5 orders) + 40 (3,000.00) + 30 (0.10 returns)
    + 30 (no history) = 560 → in review with BORDERLINE_SCORE, scorecard limit 2,000."""
    data = {
        "external_id": f"c-{n}", "name": f"Applicant {n}", "id_number": id_number(n), "phone": f"139{n:08d}",
        "store_status": "normal", "store_since": date(2020, 1, 1), "orders_12m": 5,
        "spend_12m": Decimal("3000.00"), "return_rate": Decimal("0.10"),
    }
    data.update(overrides)
    return ApplicantData(**data)


def strong(n: int, **overrides) -> ApplicantData:
    """300 + 120 + 110 + 110 + 60 + 30 = 730 → limit 20,000 (approved unless flagged)."""
    return applicant(n, **{"store_since": date(2021, 3, 1), "orders_12m": 42, "spend_12m": Decimal("26800.00"),
                           "return_rate": Decimal("0.03"), **overrides})


def submit(data: ApplicantData) -> Application:
    return application_submit(kind="activation", applicant=data, card_token="tok_ok")


def review_case(n: int, **overrides) -> ReviewCase:
    application = submit(applicant(n, **overrides))
    assert application.status == "in_review", application.reasons
    return ReviewCase.objects.get(application=application)


def shared_phone_case(n: int) -> ReviewCase:
    """A strong profile (limit 20,000) flagged SHARED_PHONE: another customer has the phone."""
    assert submit(strong(900 + n, phone=f"137{n:08d}")).status == "approved"
    application = submit(strong(n, phone=f"137{n:08d}"))
    assert application.status == "in_review"
    assert application.flags == ["SHARED_PHONE"]
    assert application.proposed_limit == Decimal("20000.00")
    return ReviewCase.objects.get(application=application)


def group(name: str) -> Group:
    found = Group.objects.filter(name=name).first()
    if found is not None:
        return found
    created = Group.objects.create(name=name)  # flushed by a transactional test: rebuild it
    for label in STAFF_GROUPS[name]:
        app_label, codename = label.split(".")
        created.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return created


def staff(username: str, group_name: str | None, *perms: str, superuser: bool = False) -> User:
    user = User.objects.create_user(username=username, password="pw", is_staff=True, is_superuser=superuser)
    if group_name:
        user.groups.add(group(group_name))
    for label in perms:
        app_label, codename = label.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return User.objects.get(pk=user.pk)


@pytest.fixture
def reviewer():
    return staff("reviewer", "Risk reviewer")


@pytest.fixture
def reviewer2():
    return staff("reviewer2", "Risk reviewer")


@pytest.fixture
def manager():
    return staff("manager", "Risk manager")


@pytest.fixture
def agent():
    # The "CS agent" group lacks risk.view_reviewcase (accounts/migrations/0003); the queue's
    # view permission is granted explicitly until the group migration carries it.
    return staff("agent", "CS agent", "risk.view_reviewcase")


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def case_url(case: ReviewCase, action: str = "") -> str:
    if action:
        return reverse(f"admin:risk_reviewcase_{action}", args=[case.pk])
    return reverse("admin:risk_reviewcase_change", args=[case.pk])


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def snapshot(case: ReviewCase) -> tuple:
    case.refresh_from_db()
    application = Application.objects.get(pk=case.application_id)
    return (case.status, case.claimed_by_id, case.proposed_limit, case.decision, case.decided_by_id,
            case.escalated, application.status, application.credit_limit, application.account_id,
            CreditAccount.objects.count(), AuditEvent.objects.count())


# --- claim next ---------------------------------------------------------------------------


def test_claim_next_gives_the_reviewer_the_oldest_due_case(reviewer):
    first, second, third = review_case(1), review_case(2), review_case(3)
    ReviewCase.objects.filter(pk=second.pk).update(due_at=first.due_at - timedelta(hours=1))
    client = client_for(reviewer)

    response = client.post(CLAIM_NEXT)

    assert response.status_code == 302
    assert response["Location"] == case_url(second)
    second.refresh_from_db()
    assert second.status == ReviewStatus.CLAIMED
    assert second.claimed_by == reviewer
    assert ReviewCase.objects.filter(status=ReviewStatus.CLAIMED).count() == 1
    assert AuditEvent.objects.filter(action="review_case.claimed", object_id=str(second.pk)).count() == 1
    # one case at a time: claiming again returns the held case
    assert client.post(CLAIM_NEXT)["Location"] == case_url(second)
    assert set(ReviewCase.objects.filter(pk__in=[first.pk, third.pk]).values_list("status", flat=True)) == {
        ReviewStatus.OPEN}


def test_claim_next_is_post_only_with_csrf(reviewer):
    review_case(1)
    client = client_for(reviewer)
    assert client.get(CLAIM_NEXT).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(reviewer)
    assert strict.post(CLAIM_NEXT).status_code == 403
    assert not ReviewCase.objects.filter(status=ReviewStatus.CLAIMED).exists()
    # the changelist shows the button as a POST form with a CSRF token
    page = client.get(CHANGELIST).content.decode()
    assert f'action="{CLAIM_NEXT}"' in page
    assert "csrfmiddlewaretoken" in page
    assert "Claim next case" in page


def test_claim_next_on_an_empty_queue_says_so(reviewer):
    response = client_for(reviewer).post(CLAIM_NEXT)
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    assert message_texts(response) == ["Queue is empty"]


# --- the case page ------------------------------------------------------------------------


def test_case_page_shows_application_breakdown_and_earlier_applications(reviewer):
    earlier = submit(applicant(1, orders_12m=1, spend_12m=Decimal("300.00"), return_rate=Decimal("0.20"),
                               store_since=date(2026, 10, 1)))
    assert earlier.status == "rejected"  # 300 + 0 + 0 + 0 + 0 + 30 = 330
    case = review_case(1)
    assert case.application.score == 560
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)
    ReviewCase.objects.filter(pk=case.pk).update(last_activity_at=timezone.now() - timedelta(minutes=10))

    response = client.get(case_url(case))

    assert response.status_code == 200
    page = response.content.decode()
    breakdown = response.context["breakdown"]
    assert [(row["value"], row["points"]) for row in breakdown] == [
        ("", 300), ("82", 120), ("5", 40), ("3000.00", 40), ("0.1000", 30), ("none", 30)]
    assert 'id="score-breakdown"' in page
    assert "Months since store customer" in page
    assert "BORDERLINE_SCORE" in page
    # masked personal data only
    assert "110***********" + id_number(1)[-4:] in page
    assert "139****0001" in page
    assert id_number(1) not in page
    assert "13900000001" not in page
    # the earlier application with its status and reason
    rows = response.context["earlier_applications"]
    assert [row["application"].pk for row in rows] == [earlier.pk]
    assert "SCORE_BELOW_THRESHOLD" in page
    assert "v1" in page
    # the claimer sees the forms, prefilled with the scorecard limit; opening the page is activity
    assert response.context["show_decision_forms"] is True
    assert response.context["approve_form"].initial["credit_limit"] == Decimal("2000.00")
    for action in ("approve", "reject", "escalate", "release"):
        assert case_url(case, action) in page
    case.refresh_from_db()
    assert timezone.now() - case.last_activity_at < timedelta(minutes=1)


def test_case_page_for_another_reviewer_has_no_forms_and_no_touch(reviewer, reviewer2):
    case = review_case(1)
    client_for(reviewer).post(CLAIM_NEXT)
    case.refresh_from_db()
    activity = case.last_activity_at

    response = client_for(reviewer2).get(case_url(case))

    assert response.status_code == 200
    assert response.context["show_decision_forms"] is False
    assert case_url(case, "approve") not in response.content.decode()
    assert "Claimed by reviewer" in response.content.decode()
    case.refresh_from_db()
    assert case.last_activity_at == activity


def test_case_page_refuses_post(reviewer):
    case = review_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)
    before = snapshot(case)
    assert client.post(case_url(case), {"status": "decided"}).status_code == 405
    assert snapshot(case) == before


# --- decisions -----------------------------------------------------------------------------


def test_approve_opens_the_credit_account(reviewer):
    case = review_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)

    response = client.post(case_url(case, "approve"), {"credit_limit": "2000.00", "note": "looks fine"})

    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    assert message_texts(response) == [
        f"Case #{case.pk} approved with a limit of 2000.00; the credit account is open."]
    case.refresh_from_db()
    assert case.status == ReviewStatus.DECIDED
    assert case.decision == "approved"
    assert case.decided_by == reviewer
    application = Application.objects.get(pk=case.application_id)
    assert application.status == "approved"
    assert application.credit_limit == Decimal("2000.00")
    assert application.decided_by == reviewer
    account = CreditAccount.objects.get(customer__external_id="c-1")
    assert application.account == account
    assert account.status == "active"
    assert account.credit_limit == Decimal("2000.00")
    assert account.available_limit == Decimal("2000.00")
    assert AuditEvent.objects.filter(action="review_case.approved", object_id=str(case.pk)).count() == 1
    # decided cases leave the default queue
    assert client.get(CHANGELIST).context["cl"].result_count == 0


def test_reviewer_above_20000_proposes_and_a_risk_manager_confirms(reviewer, reviewer2, manager):
    case = shared_phone_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)

    response = client.post(case_url(case, "approve"), {"credit_limit": "25000.00", "note": "long history"})

    assert response["Location"] == CHANGELIST
    assert message_texts(response) == [
        f"Case #{case.pk}: limit 25000.00 proposed; a risk manager must confirm it."]
    case.refresh_from_db()
    assert case.status == ReviewStatus.AWAITING_CONFIRMATION
    assert case.proposed_limit == Decimal("25000.00")
    assert case.proposed_by == reviewer
    assert case.claimed_by is None
    assert Application.objects.get(pk=case.application_id).status == "in_review"
    assert not CreditAccount.objects.filter(customer__external_id="c-1").exists()
    # another reviewer cannot take it; a risk manager can
    assert message_texts(client_for(reviewer2).post(CLAIM_NEXT)) == ["Queue is empty"]
    page = client_for(manager).get(case_url(case)).content.decode()
    assert "25000.00" in page
    assert "proposed by reviewer" in page

    manager_client = client_for(manager)
    assert manager_client.post(CLAIM_NEXT)["Location"] == case_url(case)
    response = manager_client.get(case_url(case))
    assert response.context["show_decision_forms"] is True
    assert response.context["approve_form"].initial["credit_limit"] == Decimal("25000.00")
    response = manager_client.post(case_url(case, "approve"), {"credit_limit": "25000.00", "note": "confirmed"})

    assert response["Location"] == CHANGELIST
    case.refresh_from_db()
    assert case.status == ReviewStatus.DECIDED
    assert case.decided_by == manager
    account = CreditAccount.objects.get(customer__external_id="c-1")
    assert account.credit_limit == Decimal("25000.00")
    assert Application.objects.get(pk=case.application_id).status == "approved"


def test_approve_above_the_policy_maximum_is_refused_and_nothing_changes(reviewer):
    case = review_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)
    before = snapshot(case)

    response = client.post(case_url(case, "approve"), {"credit_limit": "30100.00", "note": ""})

    assert response["Location"] == case_url(case)
    assert message_texts(response) == ["The limit may not exceed the policy maximum of 30000."]
    assert snapshot(case) == before


def test_reject_without_a_note_is_refused_and_nothing_changes(reviewer):
    case = review_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)
    before = snapshot(case)

    response = client.post(case_url(case, "reject"), {"reason_code": "REVIEW_REJECTED_AFFORDABILITY",
                                                      "note": "   "})

    assert response.status_code == 302
    assert response["Location"] == case_url(case)
    assert message_texts(response) == ["A rejection needs a reason code and a note."]
    assert snapshot(case) == before
    assert not AuditEvent.objects.filter(action="review_case.rejected").exists()

    response = client.post(case_url(case, "reject"), {"reason_code": "REVIEW_REJECTED_AFFORDABILITY",
                                                      "note": "income too low"})
    assert response["Location"] == CHANGELIST
    case.refresh_from_db()
    assert case.status == ReviewStatus.DECIDED
    assert case.decision == "rejected"
    assert case.decision_reason_code == "REVIEW_REJECTED_AFFORDABILITY"
    application = Application.objects.get(pk=case.application_id)
    assert application.status == "rejected"
    assert [r["code"] for r in application.reasons] == ["REVIEW_REJECTED_AFFORDABILITY"]
    assert not CreditAccount.objects.exists()


def test_reject_with_an_unknown_reason_code_is_refused(reviewer):
    case = review_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)
    before = snapshot(case)
    response = client.post(case_url(case, "reject"), {"reason_code": "BECAUSE", "note": "x"})
    assert response["Location"] == case_url(case)
    assert len(message_texts(response)) == 1
    assert snapshot(case) == before


def test_escalate_hands_the_case_to_risk_managers(reviewer, reviewer2, manager):
    case = review_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)

    refused = client.post(case_url(case, "escalate"), {"note": ""})
    assert refused["Location"] == case_url(case)
    assert message_texts(refused) == ["Say why you escalate."]
    response = client.post(case_url(case, "escalate"), {"note": "possible identity fraud"})

    assert response["Location"] == CHANGELIST
    case.refresh_from_db()
    assert case.status == ReviewStatus.ESCALATED
    assert case.escalated is True
    assert case.escalation_note == "possible identity fraud"
    assert case.claimed_by is None
    assert AuditEvent.objects.filter(action="review_case.escalated", object_id=str(case.pk)).count() == 1
    assert message_texts(client_for(reviewer2).post(CLAIM_NEXT)) == ["Queue is empty"]
    assert client_for(manager).post(CLAIM_NEXT)["Location"] == case_url(case)


def test_release_returns_the_case_to_the_queue(reviewer, reviewer2):
    case = review_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)

    response = client.post(case_url(case, "release"))

    assert response["Location"] == CHANGELIST
    case.refresh_from_db()
    assert case.status == ReviewStatus.OPEN
    assert case.claimed_by is None
    assert client_for(reviewer2).post(CLAIM_NEXT)["Location"] == case_url(case)


def test_decision_urls_are_post_only(reviewer):
    case = review_case(1)
    client = client_for(reviewer)
    client.post(CLAIM_NEXT)
    for action in ("approve", "reject", "escalate", "release"):
        assert client.get(case_url(case, action)).status_code == 405


# --- permissions ---------------------------------------------------------------------------


def test_cs_agent_views_the_queue_but_cannot_decide(reviewer, agent):
    case = review_case(1)
    client_for(reviewer).post(CLAIM_NEXT)
    other = review_case(2)
    client = client_for(agent)

    listing = client.get(CHANGELIST)
    assert listing.status_code == 200
    assert [c.pk for c in listing.context["cl"].result_list] == [case.pk, other.pk]
    assert "Claim next case" not in listing.content.decode()
    page = client.get(case_url(case))
    assert page.status_code == 200
    assert page.context["show_decision_forms"] is False
    assert case_url(case, "approve") not in page.content.decode()

    before, before_other = snapshot(case), snapshot(other)
    assert client.post(case_url(case, "approve"), {"credit_limit": "2000.00", "note": ""}).status_code == 403
    assert client.post(case_url(case, "reject"), {"reason_code": "REVIEW_REJECTED_POLICY",
                                                  "note": "x"}).status_code == 403
    assert client.post(case_url(case, "escalate"), {"note": "x"}).status_code == 403
    assert client.post(case_url(case, "release")).status_code == 403
    assert client.post(CLAIM_NEXT).status_code == 403
    assert snapshot(case) == before
    assert snapshot(other) == before_other


def test_staff_without_queue_permission_cannot_open_it():
    case = review_case(1)
    ops = client_for(staff("ops", "Operations"))
    assert ops.get(CHANGELIST).status_code == 403
    assert ops.get(case_url(case)).status_code == 403
    assert ops.post(CLAIM_NEXT).status_code == 403


def test_no_add_or_delete_on_review_cases(reviewer, manager):
    case = review_case(1)
    for user in (reviewer, manager):
        client = client_for(user)
        assert client.get(reverse("admin:risk_reviewcase_add")).status_code == 403
        assert client.get(reverse("admin:risk_reviewcase_delete", args=[case.pk])).status_code == 403
    assert ReviewCase.objects.filter(pk=case.pk).exists()


# --- idle claims ---------------------------------------------------------------------------


def test_an_idle_claim_is_taken_by_another_reviewer(reviewer, reviewer2):
    case = review_case(1)
    first = client_for(reviewer)
    first.post(CLAIM_NEXT)
    idle_since = timezone.now() - timedelta(minutes=31)
    ReviewCase.objects.filter(pk=case.pk).update(last_activity_at=idle_since)

    # the idle holder sees the claim expired: no forms, and opening the page does not revive it
    page = first.get(case_url(case))
    assert page.context["show_decision_forms"] is False
    assert "claim expired after 30 minutes idle" in page.content.decode()
    case.refresh_from_db()
    assert case.last_activity_at == idle_since

    response = client_for(reviewer2).post(CLAIM_NEXT)

    assert response["Location"] == case_url(case)
    case.refresh_from_db()
    assert case.status == ReviewStatus.CLAIMED
    assert case.claimed_by == reviewer2
    # the former holder can no longer decide it
    before = snapshot(case)
    refused = first.post(case_url(case, "approve"), {"credit_limit": "2000.00", "note": ""})
    assert refused["Location"] == case_url(case)
    assert message_texts(refused) == ["Claim this case before deciding it."]
    assert snapshot(case) == before


def test_a_live_claim_is_not_taken(reviewer, reviewer2):
    case = review_case(1)
    client_for(reviewer).post(CLAIM_NEXT)
    ReviewCase.objects.filter(pk=case.pk).update(last_activity_at=timezone.now() - timedelta(minutes=29))
    assert message_texts(client_for(reviewer2).post(CLAIM_NEXT)) == ["Queue is empty"]
    case.refresh_from_db()
    assert case.claimed_by == reviewer


# --- concurrency ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_reviewers_claiming_at_the_same_time_never_get_the_same_case(transactional_db):
    cases = [review_case(n) for n in range(1, 5)]
    reviewers = [staff(f"racer{n}", "Risk reviewer") for n in range(4)]
    barrier = threading.Barrier(len(reviewers))
    claimed: dict[str, int | None] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def claim(user: User) -> None:
        try:
            barrier.wait(timeout=10)
            case = review_case_claim_next(acting_user=user)
            with lock:
                claimed[user.username] = case.pk if case else None
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(user,)) for user in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(claimed.values()) == sorted(c.pk for c in cases)
    for case in cases:
        case.refresh_from_db()
        assert case.status == ReviewStatus.CLAIMED
        assert claimed[case.claimed_by.username] == case.pk


# --- queue filters and the changelist -------------------------------------------------------


def test_queue_filters_return_the_right_rows(reviewer, reviewer2):
    later, mine, theirs, overdue, soon, decided = (review_case(n) for n in range(1, 7))
    now = timezone.now()

    def due(case: ReviewCase, delta: timedelta) -> None:
        ReviewCase.objects.filter(pk=case.pk).update(due_at=now + delta)

    def claim_oldest(case: ReviewCase, user: User) -> None:
        due(case, -timedelta(days=1))  # make it the oldest due, so "claim next" returns it
        assert review_case_claim_next(acting_user=user).pk == case.pk

    claim_oldest(decided, reviewer2)
    review_case_reject(case_id=decided.pk, reason_code="REVIEW_REJECTED_POLICY", note="n",
                                acting_user=reviewer2)
    claim_oldest(mine, reviewer)
    claim_oldest(theirs, reviewer2)
    for case, delta in ((decided, -timedelta(hours=3)), (overdue, -timedelta(hours=1)), (soon, timedelta(hours=2)),
                        (mine, timedelta(hours=5)), (theirs, timedelta(hours=6)), (later, timedelta(hours=20))):
        due(case, delta)
    client = client_for(reviewer)

    def rows(query: str = "") -> list[int]:
        response = client.get(CHANGELIST + query)
        assert response.status_code == 200
        return [c.pk for c in response.context["cl"].result_list]

    assert rows() == [overdue.pk, soon.pk, mine.pk, theirs.pk, later.pk]  # by due, decided hidden
    assert rows("?queue=unclaimed") == [overdue.pk, soon.pk, later.pk]
    assert rows("?queue=mine") == [mine.pk]
    assert rows("?queue=overdue") == [overdue.pk]
    assert rows("?queue=due_soon") == [soon.pk]
    assert rows("?decided=include") == [decided.pk, overdue.pk, soon.pk, mine.pk, theirs.pk, later.pk]
    assert rows("?decided=only") == [decided.pk]
    page = client.get(CHANGELIST).content.decode()
    assert 'class="due-badge due-overdue"' in page
    assert 'class="due-badge due-soon"' in page
    assert "110***********" in page
    assert id_number(1) not in page


def _changelist_queries(client: Client, django_assert_num_queries, expected: int) -> None:
    with django_assert_num_queries(expected):
        response = client.get(CHANGELIST)
    assert response.status_code == 200


def test_changelist_query_count_does_not_grow_with_cases(reviewer, reviewer2, django_assert_num_queries):
    for n in range(1, 6):
        review_case(n)
    review_case_claim_next(acting_user=reviewer)
    review_case_claim_next(acting_user=reviewer2)
    client = client_for(reviewer)
    client.get(CHANGELIST)  # warm up (content types, session)

    _changelist_queries(client, django_assert_num_queries, CHANGELIST_QUERIES)
    assert ReviewCase.objects.count() == 5
    for n in range(6, 31):
        review_case(n)
    _changelist_queries(client, django_assert_num_queries, CHANGELIST_QUERIES)
    assert ReviewCase.objects.count() == 30


# session, user, staff profile, user + group permissions, count, rows
CHANGELIST_QUERIES = 7


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


def test_policy_drafts_are_edited_and_activated_through_services(manager, reviewer):
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

    # activation needs a reason
    refused = manager_client.post(activate_url, {"reason": ""})
    assert message_texts(refused)[-1] == "Say why this version is activated."
    draft.refresh_from_db()
    assert draft.status == PolicyStatus.DRAFT
    activated = manager_client.post(activate_url, {"reason": "longer review deadline"})
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
