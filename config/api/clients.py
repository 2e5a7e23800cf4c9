"""The storefront's service clients: created or rotated by ``manage.py create_api_client``;
only a SHA-256 of each token is kept."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.audit_trail import audit_record

from .models import ApiClient, IdempotencyRecord


def api_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_client_for_token(token: str) -> ApiClient | None:
    """The active client holding ``token`` (one indexed lookup by its hash)."""
    return ApiClient.objects.filter(token_hash=api_token_hash(token), is_active=True).first()


def api_client_create_or_rotate(*, name: str) -> tuple[ApiClient, str]:
    """Create the service client ``name`` or rotate its token. Returns the clear token once."""
    token = secrets.token_hex(24)
    with transaction.atomic(durable=True):
        client, created = ApiClient.objects.select_for_update().get_or_create(
            name=name, defaults={"token_hash": api_token_hash(token), "token_prefix": token[:8]})
        if not created:
            client.token_hash = api_token_hash(token)
            client.token_prefix = token[:8]
            client.is_active = True
            client.save(update_fields=["token_hash", "token_prefix", "is_active", "rotated_at"])
        audit_record(acting_user=None, action="api_client.created" if created else "api_client.rotated",
                     obj=client)
    return client, token


def idempotency_records_purge(*, older_than_hours: int) -> int:
    """Forget the answers kept for ``Idempotency-Key`` after their retention time."""
    cutoff = timezone.now() - timedelta(hours=older_than_hours)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
