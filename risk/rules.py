"""Knock-out rules as pure functions (docs/rules.md §3.1)."""

from __future__ import annotations

import re
from datetime import date

_ID_RE = re.compile(r"^\d{17}[\dX]$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"


def id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of a PRC resident ID (GB 11643)."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def id_number_problem(id_number: str, *, today: date) -> str | None:
    """Why an 18-character resident ID number is invalid, or None if it is valid."""
    value = id_number.strip().upper()
    if not _ID_RE.match(value):
        return "format"
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "birth_date"
    if birth > today or birth.year < 1900:
        return "birth_date"
    if id_check_char(value[:17]) != value[17]:
        return "check_digit"
    return None

