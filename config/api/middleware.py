from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext_lazy as _

from .errors import error_body


class ApiBodySizeLimitMiddleware:
    """Refuse oversized API bodies up front (400 with a clear code), before anything reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            limit = settings.API_MAX_BODY_BYTES
            if length > limit:
                return JsonResponse(error_body("request_too_large", _("The request body is larger than %(limit)s bytes.") % {"limit": limit},
                                               {"body": [_("at most %(limit)s bytes") % {"limit": limit}]}), status=400)
        return self.get_response(request)
