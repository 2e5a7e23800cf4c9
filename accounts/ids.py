"""Ids as the outside world writes them: the API's opaque id strings and the numbers typed
into the back office's search boxes."""

from __future__ import annotations

MAX_ID_DIGITS = 18  # a bigint has 19 digits; 18 keep every parsed id inside it


def parse_id(raw: object) -> int | None:
    """The id written in ``raw`` — ASCII digits only, at most 18 — or None. (``str.isdigit``
    alone accepts superscripts and other scripts' digits, which ``int`` refuses.)"""
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit() or len(raw) > MAX_ID_DIGITS:
        return None
    return int(raw)
