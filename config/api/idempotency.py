"""``Idempotency-Key`` for every POST (API.md):

- same key, same body → the first response replayed (status and body) with
  ``Idempotent-Replayed: true``;
- same key, different body → 409 ``idempotency_key_reused``;
- same key while the first request is still running → 409 ``request_in_progress``.

The key is claimed by one committed ``INSERT … ON CONFLICT DO NOTHING`` (a unique row per
client and key) before the view runs, so two concurrent requests cannot both run. A 5xx answer releases
the key (the request may be retried); every other answer is stored and kept ≥ 24 h.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from accounts.models import IdempotencyRecord

from .errors import error_body

HEADER = "Idempotency-Key"


def _request_fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), cls=JSONEncoder)
    raw = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _claim(*, client, key: str, method: str, path: str, fingerprint: str, now, lease) -> int | None:
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


class IdempotentAPIView(APIView):
    # Subclasses implement ``create(request, *args, **kwargs)`` for POST. (A comment, not a
    # docstring: drf-spectacular would show an inherited docstring as every POST's description.)

    def post(self, request, *args, **kwargs):
        request.data  # noqa: B018 - parse first: malformed JSON is a 400 that claims no key
        key = request.headers.get(HEADER)
        if key is None:
            return self.create(request, *args, **kwargs)
        if not (1 <= len(key) <= 255):
            return Response(error_body("invalid_idempotency_key", _("Idempotency-Key must be 1–255 characters."),
                                       {"Idempotency-Key": [_("1 to 255 characters")]}), status=400)
        fingerprint = _request_fingerprint(request)
        client = request.user
        now = timezone.now()
        lease = timedelta(seconds=settings.IDEMPOTENCY_IN_PROGRESS_LEASE_SECONDS)
        record_id = _claim(client=client, key=key, method=request.method, path=request.path[:255],
                           fingerprint=fingerprint, now=now, lease=lease)
        if record_id is None:  # the client already used this key
            with transaction.atomic():
                record = IdempotencyRecord.objects.select_for_update().get(client=client, key=key)
                if record.request_hash != fingerprint:
                    return Response(error_body("idempotency_key_reused",
                                               _("This Idempotency-Key was used with a different request."),
                                               {"Idempotency-Key": [_("reused with a different body")]}), status=409)
                if record.completed:
                    response = Response(record.response_body, status=record.response_status)
                    response["Idempotent-Replayed"] = "true"
                    return response
                if record.locked_until > now:
                    return Response(error_body("request_in_progress",
                                               _("A request with this Idempotency-Key is still being processed.")),
                                    status=409)
                # The first attempt died without answering: this one takes over the key.
                record.locked_until = now + lease
                record.save(update_fields=["locked_until"])
                record_id = record.pk
        try:
            response = self.create(request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc)
        if response.status_code >= 500:
            IdempotencyRecord.objects.filter(pk=record_id, completed=False).delete()
            return response
        body = json.loads(json.dumps(response.data, cls=JSONEncoder))
        IdempotencyRecord.objects.filter(pk=record_id).update(
            completed=True, response_status=response.status_code, response_body=body)
        return response

    def create(self, request, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError
