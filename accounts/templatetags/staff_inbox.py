"""The staff inbox in every admin page's header: the signed-in member of staff's unread
notifications (one query, kept on the request so a page asks once)."""

from __future__ import annotations

from django import template

from ..staff_inbox import staff_inbox_unread_count

register = template.Library()

_CACHE_ATTRIBUTE = "_staff_inbox_unread"


@register.simple_tag(takes_context=True)
def staff_inbox_unread(context: template.Context) -> int:
    """How many of the user's notifications are unread (0 for anyone not signed in)."""
    request = context.get("request")
    if request is None:
        return 0
    cached = getattr(request, _CACHE_ATTRIBUTE, None)
    if cached is None:
        cached = staff_inbox_unread_count(getattr(request, "user", None))
        setattr(request, _CACHE_ATTRIBUTE, cached)
    return cached
