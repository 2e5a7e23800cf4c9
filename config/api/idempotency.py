"""``Idempotency-Key`` for every POST of the API (docs/api.md):

- same key, same body → the first response replayed (status and body) with
  ``Idempotent-Replayed: true``;
- same key, different body → 409 ``idempotency_key_reused``;
- same key while the first request is still running → 409 ``request_in_progress``.

A middleware does it for every POST under ``/api/``, so no view has to remember to. The key
is claimed by one committed ``INSERT … ON CONFLICT DO NOTHING`` (a unique row per client and
key) before the view runs, so two concurrent requests cannot both run. A 5xx answer releases
the key (the request may be retried), and so does a 429 (throttled: retried after
``Retry-After``); every other answer is stored and kept ≥ 24 h. A body that is not JSON, a
request without a valid token, or one outside the token's scopes claims nothing: the view
answers it (400/415, 401, 403 ``insufficient_scope``).

Answers are truthful when the broker is away: notifications are enqueued after commit without
letting a broker failure reach the response (accounts/outbox.py), so a committed write answers
its 201 and that answer is what a retry with the same key replays.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ParseError
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

from accounts.errors import ApplicationError

from .auth import client_of, scope_needed
from .errors import KeyAnswered, error_body
from .models import ApiClient, IdempotencyRecord
from .parsers import BoundedJSONParser
from .throttling import uncount

logger = logging.getLogger("tally.api")
HEADER = "Idempotency-Key"
API_PREFIX = "/api/"


def _json_response(body: Any, status: int) -> HttpResponse:
    return HttpResponse(JSONRenderer().render(body), status=status, content_type="application/json")


def _parsed_body(request: HttpRequest) -> Any:
    """The body as the API's parser reads it; ParseError when it is not JSON."""
    content_type = request.META.get("CONTENT_TYPE", "")
    if not content_type.split(";")[0].strip().lower().endswith("json"):
        raise ParseError("not JSON")
    if not request.body:
        return {}
    return BoundedJSONParser().parse(io.BytesIO(request.body), content_type, {"request": request})


def _fingerprint(request: HttpRequest, data: Any) -> str:
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), cls=JSONEncoder)
    raw = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _claim(*, client: ApiClient, key: str, method: str, path: str, fingerprint: str, now: datetime,
           lease: timedelta) -> int | None:
    """Insert the key's record and return its id, or None when the client already holds
    the key — one statement that commits at once (``ON CONFLICT DO NOTHING``: a concurrent
    first request's insert is waited for, never duplicated)."""
    meta = IdempotencyRecord._meta
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(meta.db_table)} (client_id, key, method, path, request_hash, completed, created_at, "  # noqa: S608
            "locked_until) VALUES (%s, %s, %s, %s, %s, false, %s, %s) ON CONFLICT (client_id, key) DO NOTHING "
            "RETURNING id", [client.pk, key, method, path, fingerprint, now, now + lease])
        row = cursor.fetchone()
    return row[0] if row else None


def _answer_for_used_key(client: ApiClient, key: str, fingerprint: str, now: datetime,
                         lease: timedelta) -> HttpResponse | int:
    """What a request carrying a key the client already used gets: the stored answer, a 409,
    or — when the first attempt died without answering — the key itself (its record id)."""
    with transaction.atomic(durable=True):
        record = IdempotencyRecord.objects.select_for_update().get(client=client, key=key)
        if record.request_hash != fingerprint:
            return _json_response(error_body("idempotency_key_reused",
                                             _("This Idempotency-Key was used with a different request."),
                                             {HEADER: [_("reused with a different body")]}), 409)
        if record.completed:
            response = _json_response(record.response_body, record.response_status or 200)
            response["Idempotent-Replayed"] = "true"
            return response
        if record.locked_until > now:
            return _json_response(error_body("request_in_progress",
                                             _("A request with this Idempotency-Key is still being processed.")), 409)
        record.locked_until = now + lease
        record.save(update_fields=["locked_until"])
        return record.pk


def _view_within_scopes(request: HttpRequest, client: ApiClient) -> type | None:
    """The view class this request goes to when the client's scopes allow it (else None; an
    unknown URL: None)."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    view_class = getattr(match.func, "view_class", None)
    scope = scope_needed(view_class, request.method or "")
    return view_class if scope is not None and client.has_scope(scope) else None


RELEASED_STATUSES = frozenset({429})  # and every 5xx: the request may be tried again
# The advisory lock class of keys taken inside a booking (pg_try_advisory_xact_lock(class, hash)).
KEY_LOCK_CLASS = 7411


def _answered(body: Any, status: int, *, replayed: bool = False) -> KeyAnswered:
    response = _json_response(body, status)
    if replayed:
        response["Idempotent-Replayed"] = "true"
    return KeyAnswered(response)


class KeyInBooking:
    """The key of a request whose view books in one transaction (``idempotency_in_booking`` on
    the view class; ``accounts.request_keys.KeyedRequest``): the booking's first round trip
    takes a transaction-scoped advisory lock on the key and reads its record; the answer is
    inserted just before the booking commits. A key held by a running request is 409
    ``request_in_progress``; a used one is replayed or 409 ``idempotency_key_reused`` — the
    booking is then rolled back. Answers given before or without a booking (400, 404, 409,
    422) are stored by the middleware afterwards, as for any other view."""

    def __init__(self, *, client: ApiClient, key: str, fingerprint: str, method: str, path: str, now: datetime,
                 answer: Callable[[Any], tuple[int, Any]] | None = None):
        self.client, self.key, self.fingerprint, self.method, self.path, self.now = (
            client, key, fingerprint, method, path, now)
        self.answer = answer  # set by the view: its answer for what was booked
        self.settled = False  # the booking stored the answer, or the key answered for it
        self.from_key = False  # answered from the key (replay or 409): the request does not count

    def answer_if_used(self) -> None:
        """For a request over its client's rate: raise the key's answer when it has one (a
        replay, or 409 for a key reused or still held); return when the key is unused. One
        read, nothing claimed or locked."""
        record = (IdempotencyRecord.objects.filter(client=self.client, key=self.key)
                  .values_list("request_hash", "completed", "response_status", "response_body", "locked_until")
                  .first())
        if record is not None:
            self.check_claim([(True,), record])

    def claim_statements(self) -> list[tuple[str, dict[str, Any]]]:
        params = {"lock_class": KEY_LOCK_CLASS, "lock_key": f"{self.client.pk}:{self.key}",
                  "client": self.client.pk, "key": self.key}
        table = IdempotencyRecord._meta.db_table
        return [("SELECT pg_try_advisory_xact_lock(%(lock_class)s, hashtext(%(lock_key)s))", params),
                (f"SELECT r.request_hash, r.completed, r.response_status, r.response_body, r.locked_until "  # noqa: S608
                 f"FROM (SELECT 1) AS one LEFT JOIN {table} AS r ON r.client_id = %(client)s AND r.key = %(key)s",
                 params)]

    def check_claim(self, rows: list[tuple[Any, ...]]) -> None:
        (locked,), (request_hash, completed, status, body, locked_until) = rows
        if request_hash is not None:
            self.settled = self.from_key = True
            if request_hash != self.fingerprint:
                raise _answered(error_body("idempotency_key_reused",
                                           _("This Idempotency-Key was used with a different request."),
                                           {HEADER: [_("reused with a different body")]}), 409)
            if completed:  # Django reads jsonb as text: its JSONField decodes it
                raise _answered(json.loads(body) if isinstance(body, str) else body, status or 200, replayed=True)
            if locked_until > self.now:  # held by a request of another endpoint still running
                raise _answered(error_body("request_in_progress",
                                           _("A request with this Idempotency-Key is still being processed.")), 409)
            self.settled = self.from_key = False  # a claim whose request died without answering: taken over
        if not locked:
            self.settled = self.from_key = True
            raise _answered(error_body("request_in_progress",
                                       _("A request with this Idempotency-Key is still being processed.")), 409)

    def refusal_statement(self, refusal: Exception) -> tuple[str, dict[str, Any]] | None:
        if not isinstance(refusal, ApplicationError) or refusal.status_code >= 500 \
                or refusal.status_code in RELEASED_STATUSES:
            return None
        return self._store_statement(refusal.status_code, error_body(refusal.code, refusal.message, refusal.details))

    def answer_statement(self, booked: Any) -> tuple[str, dict[str, Any]]:
        if self.answer is None:
            raise RuntimeError("the view sets the key's answer before booking")
        return self._store_statement(*self.answer(booked))

    def _store_statement(self, status: int, body: Any) -> tuple[str, dict[str, Any]]:
        self.settled = True
        table = IdempotencyRecord._meta.db_table
        return (f"INSERT INTO {table} AS r (client_id, key, method, path, request_hash, completed, response_status, "  # noqa: S608
                "response_body, created_at, locked_until) VALUES (%(client)s, %(key)s, %(method)s, %(path)s, "
                "%(hash)s, true, %(status)s, %(body)s::jsonb, %(now)s, %(now)s) ON CONFLICT (client_id, key) DO UPDATE "
                "SET completed = true, response_status = EXCLUDED.response_status, "
                "response_body = EXCLUDED.response_body WHERE NOT r.completed",
                {"client": self.client.pk, "key": self.key, "method": self.method, "path": self.path,
                 "hash": self.fingerprint, "status": status, "body": json.dumps(body, cls=JSONEncoder),
                 "now": self.now})


def _store_answer(client: ApiClient, key: str, method: str, path: str, fingerprint: str, now: datetime,
                  response: HttpResponse) -> None:
    """Keep the answer a keyed request got without its booking storing it (a refusal)."""
    data = getattr(response, "data", None)
    body = json.loads(json.dumps(data, cls=JSONEncoder)) if data is not None else json.loads(response.content)
    try:
        IdempotencyRecord.objects.bulk_create(
            [IdempotencyRecord(client=client, key=key, method=method, path=path, request_hash=fingerprint,
                               completed=True, response_status=response.status_code, response_body=body,
                               locked_until=now)], ignore_conflicts=True)
    except DatabaseError:
        logger.warning("could not record the answer of Idempotency-Key %r", key, exc_info=True)


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get(HEADER)
        if key is None or request.method != "POST" or not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        if not (1 <= len(key) <= 255):
            return _json_response(error_body("invalid_idempotency_key", _("Idempotency-Key must be 1–255 characters."),
                                             {HEADER: [_("1 to 255 characters")]}), 400)
        client = client_of(request)
        if client is None:
            return self.get_response(request)  # the view refuses the token
        view_class = _view_within_scopes(request, client)
        if view_class is None:
            return self.get_response(request)  # the view refuses it (403 insufficient_scope) or 404
        try:
            fingerprint = _fingerprint(request, _parsed_body(request))
        except ParseError:
            return self.get_response(request)  # malformed: a 400 (or 415) that claims no key
        now = timezone.now()
        if getattr(view_class, "idempotency_in_booking", False):
            return self._in_booking(request, client, key, fingerprint, now)
        lease = timedelta(seconds=settings.IDEMPOTENCY_IN_PROGRESS_LEASE_SECONDS)
        record_id = _claim(client=client, key=key, method=request.method, path=request.path[:255],
                           fingerprint=fingerprint, now=now, lease=lease)
        if record_id is None:
            used = _answer_for_used_key(client, key, fingerprint, now, lease)
            if isinstance(used, HttpResponse):
                return used
            record_id = used
        response = self.get_response(request)
        try:
            if response.status_code >= 500 or response.status_code in RELEASED_STATUSES:
                IdempotencyRecord.objects.filter(pk=record_id, completed=False).delete()
                return response
            data = getattr(response, "data", None)
            body = json.loads(json.dumps(data, cls=JSONEncoder)) if data is not None else json.loads(response.content)
            IdempotencyRecord.objects.filter(pk=record_id).update(
                completed=True, response_status=response.status_code, response_body=body)
        except DatabaseError:
            # The view's work is committed (or refused): its answer is the truth and is given.
            # Only the replay could not be stored; the key stays claimed until its lease ends,
            # then a retry runs again and meets the natural key (merchant_order_id, reference…).
            logger.warning("could not record the answer of Idempotency-Key %r; the key's lease stands", key,
                           exc_info=True)
        return response

    def _in_booking(self, request: HttpRequest, client: ApiClient, key: str, fingerprint: str,
                    now: datetime) -> HttpResponse:
        method, path = request.method or "POST", request.path[:255]
        keyed = KeyInBooking(client=client, key=key, fingerprint=fingerprint, method=method, path=path, now=now)
        request.keyed_request = keyed  # type: ignore[attr-defined]  # read by the view
        response = self.get_response(request)
        if keyed.from_key:
            uncount(request)
        if not keyed.settled and response.status_code < 500 and response.status_code not in RELEASED_STATUSES:
            _store_answer(client, key, method, path, fingerprint, now, response)
        return response
