"""The storefront's service clients: created or rotated by ``manage.py create_api_client``,
revoked by ``manage.py revoke_api_client`` or from the admin; only a SHA-256 of each token is
kept (docs/api.md, "Authentication", "Scopes"; docs/decisions/0024-scoped-api-tokens.md)."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.audit_trail import Actor, audit_record
from accounts.errors import ApplicationError

from .models import SCOPES, ApiClient, IdempotencyRecord

# ``last_used_at`` is written at most this often per client (not one UPDATE per request).
LAST_USED_RESOLUTION = timedelta(seconds=60)


class ApiClientRefused(ApplicationError):
    code = "api_client_refused"
    status_code = 400


def api_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Clients this process looked up, by token hash, with the monotonic time of the lookup: a
# request within ``API_CLIENT_CACHE_SECONDS`` of it reads no row. A revocation or rotation
# forgets the client at once in the process that made it and within that time in every other.
_clients: dict[str, tuple[float, ApiClient | None]] = {}


def forget_api_clients() -> None:
    _clients.clear()


def _client_by_hash(token_hash: str) -> ApiClient | None:
    ttl = settings.API_CLIENT_CACHE_SECONDS
    seen = _clients.get(token_hash)
    if seen is not None and time.monotonic() - seen[0] < ttl:
        return seen[1]
    client = ApiClient.objects.filter(token_hash=token_hash, is_active=True).first()
    if ttl > 0:
        if len(_clients) > 1000:  # unknown tokens must not grow it without bound
            _clients.clear()
        _clients[token_hash] = (time.monotonic(), client)
    return client


def api_client_for_token(token: str, *, now: datetime | None = None) -> ApiClient | None:
    """The usable client holding ``token`` (one indexed lookup by its hash, kept for
    ``API_CLIENT_CACHE_SECONDS``): active, not revoked, not expired. Notes its use (at most
    once a minute)."""
    client = _client_by_hash(api_token_hash(token))
    now = now or timezone.now()
    if client is None or not client.usable_at(now):
        return None
    if client.last_used_at is None or now - client.last_used_at >= LAST_USED_RESOLUTION:
        # autocommitted, outside any transaction of the request; rotated_at is left alone
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now
    return client


def parse_scopes(raw: str | Iterable[str] | None) -> list[str]:
    """``"purchases,read"`` → ``["purchases", "read"]`` in the canonical order; every scope
    when ``raw`` is None; an unknown or empty list is refused."""
    if raw is None:
        return list(SCOPES)
    items = [item.strip() for item in (raw.split(",") if isinstance(raw, str) else raw) if item.strip()]
    unknown = sorted(set(items) - set(SCOPES))
    if unknown or not items:
        raise ApiClientRefused(
            _("Scopes must be a comma-separated list of: %(scopes)s (unknown: %(unknown)s).")
            % {"scopes": ", ".join(SCOPES), "unknown": ", ".join(unknown) or "-"})
    return [scope for scope in SCOPES if scope in items]


def api_client_create_or_rotate(*, name: str, scopes: list[str] | None = None, expires_at: datetime | None = None,
                                rate_per_minute: int | None = None, reactivate: bool = False,
                                acting_user: Actor = None) -> tuple[ApiClient, str]:
    """Create the service client ``name`` or rotate its token. Returns the clear token once.

    A new client gets ``scopes`` (every scope when None); a rotation keeps the client's scopes
    unless ``scopes`` is given. A revoked client stays revoked: rotating it is refused unless
    ``reactivate`` says so (revocation must not be undone by a routine rotation)."""
    token = secrets.token_hex(24)
    with transaction.atomic(durable=True):
        client = ApiClient.objects.select_for_update().filter(name=name).first()
        created = client is None
        before: dict[str, object] = {}
        if client is None:
            client = ApiClient.objects.create(
                name=name, token_hash=api_token_hash(token), token_prefix=token[:8],
                scopes=scopes if scopes is not None else list(SCOPES), expires_at=expires_at,
                rate_per_minute=rate_per_minute)
        else:
            if client.revoked_at is not None and not reactivate:
                raise ApiClientRefused(
                    _("The API client %(name)s was revoked; pass --reactivate to give it a new token.")
                    % {"name": name})
            before = {"scopes": client.scopes, "revoked_at": str(client.revoked_at or "") or None,
                      "expires_at": str(client.expires_at or "") or None}
            client.token_hash = api_token_hash(token)
            client.token_prefix = token[:8]
            client.is_active = True
            client.revoked_at = None
            if scopes is not None:
                client.scopes = scopes
            if expires_at is not None:
                client.expires_at = expires_at
            if rate_per_minute is not None:
                client.rate_per_minute = rate_per_minute
            client.save(update_fields=["token_hash", "token_prefix", "is_active", "revoked_at", "scopes",
                                       "expires_at", "rate_per_minute", "rotated_at"])
        audit_record(acting_user=acting_user, action="api_client.created" if created else "api_client.rotated",
                     obj=client, before=before,
                     after={"scopes": client.scopes, "expires_at": str(client.expires_at or "") or None,
                            "rate_per_minute": client.rate_per_minute})
    forget_api_clients()
    return client, token


def api_client_revoke(*, name: str, acting_user: Actor = None, reason: str = "") -> ApiClient:
    """Revoke the client ``name``: every later request with its token gets 401. Idempotent."""
    with transaction.atomic(durable=True):
        client = ApiClient.objects.select_for_update().filter(name=name).first()
        if client is None:
            raise ApiClientRefused(_("No API client is named %(name)s.") % {"name": name})
        if client.revoked_at is None:
            client.revoked_at = timezone.now()
            client.is_active = False
            client.save(update_fields=["revoked_at", "is_active"])
            audit_record(acting_user=acting_user, action="api_client.revoked", obj=client,
                         before={"is_active": True}, after={"is_active": False, "revoked_at": str(client.revoked_at)},
                         reason=reason)
    forget_api_clients()
    return client


def idempotency_records_purge(*, older_than_hours: int) -> int:
    """Forget the answers kept for ``Idempotency-Key`` after their retention time."""
    cutoff = timezone.now() - timedelta(hours=older_than_hours)
    deleted, _count = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
