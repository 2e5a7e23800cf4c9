from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplaintsConfig(AppConfig):
    name = "complaints"
    verbose_name = _("Complaints and closures")

    def render_notification(self, kind: str, params: dict[str, Any]) -> str | None:
        """The customer-facing text of a complaint or closure notification (None for other
        kinds). ``accounts.notifications.render`` calls this hook in the customer's language."""
        from .notifications import render

        return render(kind, params)
