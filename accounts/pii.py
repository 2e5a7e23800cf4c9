"""Personal data: ID numbers are stored encrypted (Fernet), found by a keyed hash (HMAC-SHA256
with a separate key) and shown masked — first 3 and last 4 characters — except to holders
of ``accounts.view_full_id_number``, whose views are logged by the caller."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@lru_cache(maxsize=4)
def _fernet_for(key: str) -> Fernet:
    return Fernet(key.encode())


def _fernet() -> Fernet:
    """The configured key; none is derived from anything (no default outside local and test)."""
    key = settings.TALLY_PII_ENCRYPTION_KEY
    if not key:
        raise ImproperlyConfigured("TALLY_PII_ENCRYPTION_KEY is not set")
    return _fernet_for(key)


def _hash_key() -> bytes:
    key = settings.TALLY_PII_HASH_KEY
    if not key:
        raise ImproperlyConfigured("TALLY_PII_HASH_KEY is not set")
    return key if isinstance(key, bytes) else key.encode()


def normalize_id_number(raw: str) -> str:
    return raw.strip().upper()


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:  # a key rotation gone wrong must be loud, never silent
        raise ValueError("cannot decrypt personal data with the configured key") from exc


def keyed_hash(value: str) -> str:
    return hmac.new(_hash_key(), normalize_id_number(value).encode(), hashlib.sha256).hexdigest()


def mask_id_number(value: str) -> str:
    """``11010519491231002X`` → ``110***********002X`` (first 3 and last 4 kept)."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_phone(value: str) -> str:
    """``13800000001`` → ``138****0001``."""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]
