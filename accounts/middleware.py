import re
import uuid

from django.utils import translation

from . import logs

REQUEST_ID_HEADER = "X-Request-ID"
# A request id from the proxy is kept only when it looks like one (no log injection).
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    """Gives every request an id (the proxy's ``X-Request-ID`` when it looks safe, else a new
    one), puts it and the signed-in member of staff on every log line the request writes
    (accounts/logs.py), and answers it in ``X-Request-ID``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        logs.clear()
        logs.bind(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            logs.clear()
        response[REQUEST_ID_HEADER] = request_id
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_staff", False) and user.is_authenticated:
            logs.bind(user=user.get_username())
        return None


class StaffLanguageMiddleware:
    """Staff choose their language (stored on their profile); it wins over the browser's."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        language = None
        if user is not None and user.is_authenticated and user.is_staff:
            language = getattr(getattr(user, "staff_profile", None), "language", None)
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)
