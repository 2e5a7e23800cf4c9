"""The API's JSON parser: a hard size bound and a nesting-depth bound, both checked on the raw
bytes before the JSON library sees them (a body of 50,000 ``[`` would otherwise exhaust the
recursion limit inside it: a 500). Either → 400 ``malformed_request``."""

from __future__ import annotations

import io

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_QUOTE, _BACKSLASH = ord('"'), ord("\\")


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """Whether arrays and objects in ``raw`` nest deeper than ``limit`` (strings skipped)."""
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSE:
            depth -= 1
    return False


class BoundedJSONParser(JSONParser):
    """JSON with a hard size bound (reads at most the limit + 1 byte) and a depth bound."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        if stream is None:
            raise ParseError(_("The request body is empty."))
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise ParseError(_("The request body is larger than %(limit)s bytes.") % {"limit": limit})
        depth = settings.API_MAX_JSON_DEPTH
        if json_depth_exceeds(raw, depth):
            raise ParseError(_("The JSON body nests deeper than %(depth)s levels.") % {"depth": depth})
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError as exc:  # not reached under the depth bound; never a 500
            raise ParseError(_("The JSON body nests too deeply.")) from exc
