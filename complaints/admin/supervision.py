"""What complaint supervisors have beyond the agents' pages: the view of breaches and workload
per agent, and the bulk reassignment of selected complaints from the list."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts import clock
from accounts.admin.base import form_errors_text
from accounts.errors import ApplicationError
from complaints import selectors
from complaints.services import assignment
from complaints.services import complaints as complaint_services
from complaints.services.assignment import BULK_ASSIGN_MAX

from .forms import BulkAssignForm
from .page_actions import ComplaintPageActions


class ComplaintSupervision(ComplaintPageActions):
    """The supervisor page and the reassignment action (mixed into ``ComplaintAdmin``)."""

    def supervision_urls(self) -> list[Any]:
        return [self._page("supervisor/", "supervisor", self.supervisor_view)]

    def has_reassign_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(complaint_services.REASSIGN_COMPLAINT)

    # --- bulk reassignment (supervisors) ---

    @admin.action(description=_("Reassign the selected complaints"), permissions=["reassign"])
    def reassign_selected(self, request: HttpRequest, queryset) -> HttpResponse | None:
        """First a page to choose the agent (or nobody); then ``complaints_assign_many``:
        each refused complaint is listed with its reason, the others are reassigned."""
        applying = "apply" in request.POST
        form = BulkAssignForm(request.POST if applying else None)
        selected = list(queryset.select_related("customer", "assigned_to").order_by("id")[:BULK_ASSIGN_MAX + 1])
        if len(selected) > BULK_ASSIGN_MAX:
            messages.error(request, gettext("Reassign at most %(max)d complaints at a time.")
                           % {"max": BULK_ASSIGN_MAX})
            return None
        if applying and form.is_valid():
            target = form.cleaned_data["assignee"]
            try:
                outcome = assignment.complaints_assign_many(
                    complaint_ids=[c.pk for c in selected], assignee=target, note=form.cleaned_data["note"],
                    acting_user=request.user)
            except ApplicationError as exc:
                messages.error(request, exc.message)
                return None
            who = target.get_username() if target is not None else gettext("nobody")
            if outcome.assigned:
                messages.success(request, gettext("%(count)d complaint(s) assigned to %(user)s: %(refs)s.") % {
                    "count": len(outcome.assigned), "user": who,
                    "refs": ", ".join(f"#{pk}" for pk in outcome.assigned)})
            for complaint_id, why in outcome.refused.items():
                messages.warning(request, gettext("Complaint #%(id)s was not reassigned: %(why)s") % {
                    "id": complaint_id, "why": why})
            return None
        if applying:
            messages.error(request, form_errors_text(form))
        context = {**self.admin_site.each_context(request), "opts": self.opts, "form": form,
                   "complaints": selected, "title": gettext("Reassign complaints"),
                   "action_name": "reassign_selected", "select_across": request.POST.get("select_across", "0"),
                   "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                   "changelist_url": self._url("changelist")}
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/complaints/complaint/reassign.html", context)

    def supervisor_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(complaint_services.REASSIGN_COMPLAINT):
            raise PermissionDenied
        now = clock.now()
        breached = [{"complaint": c, "badge": selectors.complaint_badge(c, now=now)}
                    for c in selectors.breached_complaints(now=now)[:200]]
        context = {**self.admin_site.each_context(request), "opts": self.opts,
                   "title": gettext("Complaints: breaches and workload"), "breached": breached,
                   "workload": selectors.workload_per_agent(now=now), "changelist_url": self._url("changelist")}
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/complaints/complaint/supervisor.html", context)
