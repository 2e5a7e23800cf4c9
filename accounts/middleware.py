from django.utils import translation


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
