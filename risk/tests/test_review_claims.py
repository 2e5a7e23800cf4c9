"""The manual review queue's claims (docs/rules.md §3): claim next, idle claims, two reviewers
claiming at once, the queue's filters and a pinned changelist query count."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from risk.models import ReviewCase, ReviewStatus
from risk.services.review_queue import review_case_claim_next, review_case_reject

from .review_helpers import (
    CHANGELIST,
    CLAIM_NEXT,
    case_url,
    client_for,
    id_number,
    message_texts,
    review_case,
    snapshot,
    staff,
)

pytestmark = pytest.mark.django_db


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
    assert 'class="deadline-clock deadline-overdue"' in page  # the deadline clock (decision 0032)
    assert page.count('class="deadline-clock ') == 5  # every undecided case listed
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


# session, user, staff profile, user + group permissions, the reviewer's figures of the day, count,
# rows, the header's unread staff notifications
CHANGELIST_QUERIES = 9
