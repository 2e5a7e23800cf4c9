import io

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    """JSON with a hard size bound (reads at most the limit + 1 byte)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        if stream is None:
            raise ParseError(_("The request body is empty."))
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise ParseError(_("The request body is larger than %(limit)s bytes.") % {"limit": limit})
        return super().parse(io.BytesIO(raw), media_type, parser_context)
