"""Identity provider adapters. The decision service calls ``verify`` outside any database
transaction; ``IdentityProviderUnavailable`` means "ask again later", never a rejection."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class IdentityProviderUnavailable(Exception):
    """The provider is down, timed out or answered nonsense."""


@dataclass(frozen=True)
class IdentityResult:
    matched: bool
    reference: str = ""


class IdentityProvider(Protocol):
    def verify(self, *, name: str, id_number: str) -> IdentityResult: ...


class SandboxIdentityProvider:
    """Deterministic sandbox (docs/api.md): ``TEST MISMATCH`` → mismatch, ``TEST UNAVAILABLE`` →
    provider down, anything else → match."""

    def verify(self, *, name: str, id_number: str) -> IdentityResult:
        label = name.strip().upper()
        if label == "TEST UNAVAILABLE":
            raise IdentityProviderUnavailable("sandbox identity provider is down for this applicant")
        if label == "TEST MISMATCH":
            return IdentityResult(matched=False, reference="sandbox-mismatch")
        return IdentityResult(matched=True, reference="sandbox-match")


@lru_cache(maxsize=4)
def _provider_class(path: str):
    return import_string(path)


def get_identity_provider() -> IdentityProvider:
    return _provider_class(settings.TALLY_IDENTITY_PROVIDER)()
