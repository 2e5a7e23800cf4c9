"""Personal data: ID numbers are stored encrypted (Fernet), found by a keyed hash (HMAC-SHA256
with a separate key) and shown masked — first 3 and last 4 characters — except to holders
of ``accounts.view_full_id_number``, whose views are logged by the caller."""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(key: str | None, secret: str) -> Fernet:
    if key:
        return Fernet(key.encode())
    derived = hashlib.sha256(b"tally-pii-encryption:" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def _hash_key() -> bytes:
    key = settings.TALLY_PII_HASH_KEY
    if key:
        return key.encode()
    return hashlib.sha256(b"tally-pii-hash:" + settings.SECRET_KEY.encode()).digest()


def normalize_id_number(raw: str) -> str:
    return raw.strip().upper()


def encrypt(value: str) -> str:
    return _fernet(settings.TALLY_PII_ENCRYPTION_KEY, settings.SECRET_KEY).encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(settings.TALLY_PII_ENCRYPTION_KEY, settings.SECRET_KEY).decrypt(token.encode()).decode()
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
