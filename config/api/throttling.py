"""Per-client request rate (docs/api.md, "Rate limit"): a fixed one-minute window counted in
the shared cache (``CACHES[API_THROTTLE_CACHE]``, Redis in production), so every web process
counts the same requests. Over the client's rate → 429 ``throttled`` with ``Retry-After``.

A request answered from its ``Idempotency-Key`` (a replay, or a 409 for a key in progress or
reused) does not count, as when the idempotency middleware answers it before the view: a
booking view that finds its key answered gives the count back (``uncount``), and a request
over the rate whose key already has an answer gets that answer, not 429
(``KeyInBooking.answer_if_used``).

When the cache cannot be reached the request is let through (and logged): the throttle
protects the service, it must not take it down with Redis."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import BaseThrottle

from .models import ApiClient

logger = logging.getLogger("tally.api")
WINDOW_SECONDS = 60


def rate_of(client: ApiClient) -> int:
    return client.rate_per_minute or settings.API_DEFAULT_RATE_PER_MINUTE


def _count(cache: BaseCache, key: str) -> int:
    """Count one request in the window ``key`` and return the window's count. On Redis one
    round trip (SET … NX EX and INCR in one pipeline); on another cache, add then incr."""
    if isinstance(cache, RedisCache):
        full_key = cache.make_and_validate_key(key)
        client = cache._cache.get_client(full_key, write=True)  # type: ignore[attr-defined]  # its redis client
        pipe = client.pipeline(transaction=False)
        pipe.set(full_key, 0, ex=WINDOW_SECONDS + 5, nx=True)
        pipe.incr(full_key)
        _created, count = pipe.execute()
        return int(count)
    cache.add(key, 0, WINDOW_SECONDS + 5)
    return cache.incr(key)


def uncount(request) -> None:
    """Give back the count of a request the throttle let through that turned out to be
    answered from its Idempotency-Key (one Redis round trip, for replays only)."""
    window_key = getattr(request, "throttle_window_key", None)
    if window_key is None:
        return
    request.throttle_window_key = None
    try:
        caches[settings.API_THROTTLE_CACHE].decr(window_key)
    except Exception:  # the window ended, or the cache is away: the count stands
        logger.info("API throttle count not given back", exc_info=True)


class ApiClientRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request, view) -> bool:
        client = request.user
        if not isinstance(client, ApiClient):
            return True
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        key = f"tally:throttle:{client.pk}:{window}"
        try:
            count = _count(caches[settings.API_THROTTLE_CACHE], key)
        except Exception:  # the cache is away: let the request through
            logger.warning("API throttle cache unavailable; request not counted", exc_info=True)
            return True
        if count <= rate_of(client):
            request._request.throttle_window_key = key  # given back if the key answers (uncount)
            return True
        keyed = getattr(request._request, "keyed_request", None)
        if keyed is not None:
            keyed.answer_if_used()  # raises KeyAnswered: the key's answer, not 429
        self._wait = (window + 1) * WINDOW_SECONDS - now
        return False

    def wait(self) -> float | None:
        return self._wait
