"""How the complaint pages write: every action is one POST URL calling one service; a refusal
(``ApplicationError``) becomes an error message and changes nothing. The complaints' admin
(``complaints.py``), its remedies (``remedies.py``) and its supervision pages
(``supervision.py``) share it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from accounts.admin.base import run_service_action


class ComplaintPageActions(admin.ModelAdmin):
    """The complaint admin's URL names and the one way an action runs a service."""

    def _url(self, name: str, *args: Any) -> str:
        return reverse(f"admin:complaints_complaint_{name}", args=args, current_app=self.admin_site.name)

    def _run(self, request: HttpRequest, complaint_id: int, form: forms.Form | None, call: Callable[[dict], Any],
             success: Callable[[Any], str]) -> HttpResponse:
        return run_service_action(request, back=self._url("change", complaint_id), form=form, call=call, success=success)

    def _post(self, route: str, name: str, view: Callable) -> Any:
        """A POST-only URL of this admin, named ``complaints_complaint_<name>``."""
        return self._page(route, name, require_POST(view))

    def _page(self, route: str, name: str, view: Callable) -> Any:
        """A page of this admin (GET, or a form posting to itself), named ``complaints_complaint_<name>``."""
        info = self.opts.app_label, self.opts.model_name
        return path(route, self.admin_site.admin_view(view), name="{}_{}_{}".format(*info, name))
