"""Template helpers of the back office: the dashboard widgets on the admin index and the
compact rendering of audit before/after values."""

from __future__ import annotations

import json
from typing import Any

from django import template

from ..backoffice import dashboard_widgets_for

register = template.Library()


@register.simple_tag(takes_context=True)
def dashboard_widgets(context: template.Context) -> list[dict[str, Any]]:
    """The widgets the user's permissions allow, each with its ``widget`` context."""
    request = context.get("request")
    if request is None or not getattr(request.user, "is_staff", False):
        return []
    return [{"key": w.key, "template": w.template, "widget": w.context(request)}
            for w in dashboard_widgets_for(request.user)]


@register.filter
def audit_json(value: Any) -> str:
    """``{"status": "active"}`` as ``status=active``; nothing for an empty value."""
    if not value:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{key}={json.dumps(val, ensure_ascii=False) if not isinstance(val, str) else val}"
                         for key, val in value.items())
    return json.dumps(value, ensure_ascii=False)
