"""The remedies a complaint can give the customer, from the complaint page (docs/rules.md §10):
a fee or penalty waiver (applied, or waiting for a supervisor above the agent's limit) and the
supervisors' queue of those waivers, a restoration hold released early, the credit line's
closure started, and the customer's data exported for a data-privacy complaint."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext

from accounts.admin.base import run_service_action
from accounts.errors import ApplicationError
from complaints import selectors
from complaints.models import Waiver, WaiverStatus
from complaints.services import remedies
from complaints.services.data_export import customer_data_export, export_json

from .forms import NoteForm, ReleaseHoldForm, StartClosureForm, WaiverForm, object_id_of
from .page_actions import ComplaintPageActions

WAIVER_QUEUE_SHOWN = 200  # the oldest waivers shown on the queue page (the dashboard counts them all)


class ComplaintRemedies(ComplaintPageActions):
    """The remedies' POST URLs and the waiver queue (mixed into ``ComplaintAdmin``)."""

    def remedy_urls(self) -> list[Any]:
        return [
            self._page("waivers/", "waiver_queue", self.waiver_queue_view),
            self._post("waivers/<int:waiver_id>/approve/", "waiver_approve", self.waiver_approve_view),
            self._post("waivers/<int:waiver_id>/reject/", "waiver_reject", self.waiver_reject_view),
            self._post("<path:object_id>/waiver/", "waiver", self.waiver_view),
            self._post("<path:object_id>/release-hold/", "release_hold", self.release_hold_view),
            self._post("<path:object_id>/start-closure/", "start_closure", self.start_closure_view),
            self._post("<path:object_id>/data-export/", "data_export", self.data_export_view),
        ]

    def waiver_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = object_id_of(object_id)
        form = WaiverForm(request.POST)
        item_field = form.fields["item"]
        assert isinstance(item_field, forms.ChoiceField)  # WaiverForm.item
        item_field.choices = [(request.POST.get("item", ""), "")]
        return self._run(request, complaint_id, form,
                         lambda d: remedies.complaint_waiver_request(
                             complaint_id=complaint_id, kind=d["item"][0], item_id=d["item"][1], amount=d["amount"],
                             reason_text=d["reason"], acting_user=request.user),
                         lambda w: (gettext("Waiver of %(amount)s applied.") if w.status == WaiverStatus.APPLIED
                                    else gettext("Waiver of %(amount)s waits for a supervisor's approval."))
                         % {"amount": w.amount})

    def _waiver_decision(self, request: HttpRequest, waiver_id: int, approve: bool) -> HttpResponse:
        """Approve or reject; back to the complaint page, or to the waiver queue it came from."""
        complaint_id = Waiver.objects.filter(pk=waiver_id).values_list("complaint_id", flat=True).first()
        from_queue = request.POST.get("next") == "queue"
        if complaint_id is None:
            messages.error(request, gettext("No such waiver."))
            return HttpResponseRedirect(self._url("waiver_queue" if from_queue else "changelist"))
        back = self._url("waiver_queue") if from_queue else self._url("change", complaint_id)
        form = NoteForm(request.POST)
        if approve:
            form.fields["note"].required = False
            return run_service_action(
                request, back=back, form=form,
                call=lambda d: remedies.waiver_approve(waiver_id=waiver_id, note=d["note"], acting_user=request.user),
                success=lambda w: gettext("Waiver of %(amount)s approved and applied.") % {"amount": w.amount})
        return run_service_action(
            request, back=back, form=form,
            call=lambda d: remedies.waiver_reject(waiver_id=waiver_id, note=d["note"], acting_user=request.user),
            success=lambda w: gettext("Waiver rejected."))

    def waiver_approve_view(self, request: HttpRequest, waiver_id: int) -> HttpResponse:
        return self._waiver_decision(request, waiver_id, approve=True)

    def waiver_reject_view(self, request: HttpRequest, waiver_id: int) -> HttpResponse:
        return self._waiver_decision(request, waiver_id, approve=False)

    def release_hold_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = object_id_of(object_id)
        return self._run(request, complaint_id, ReleaseHoldForm(request.POST),
                         lambda d: remedies.complaint_release_hold(complaint_id=complaint_id, hold_id=d["hold_id"],
                                                                   reason_text=d["reason"], acting_user=request.user),
                         lambda amount: gettext("%(amount)s of limit released to the customer.") % {"amount": amount})

    def start_closure_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        complaint_id = object_id_of(object_id)
        return self._run(request, complaint_id, StartClosureForm(request.POST),
                         lambda d: remedies.complaint_start_closure(
                             complaint_id=complaint_id, note=d["note"], identity_method=d["identity_method"],
                             acting_user=request.user),
                         lambda r: gettext("Closure request #%(id)s is %(status)s.")
                         % {"id": r.pk, "status": r.get_status_display()})

    def data_export_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The customer's data as a JSON download (``data_privacy`` complaints; audited)."""
        complaint_id = object_id_of(object_id)
        try:
            data = customer_data_export(complaint_id=complaint_id, acting_user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(self._url("change", complaint_id))
        response = HttpResponse(export_json(data), content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = (f'attachment; filename="tally-customer-data-'
                                           f'{data["customer"]["external_id"]}-complaint-{complaint_id}.json"')
        response["Cache-Control"] = "no-store"
        return response

    def waiver_queue_view(self, request: HttpRequest) -> HttpResponse:
        """Waivers above the agent limit, oldest first, to approve or reject from the list."""
        if not request.user.has_perm(remedies.APPROVE_WAIVER):
            raise PermissionDenied
        waivers = list(selectors.waivers_awaiting_approval()[:WAIVER_QUEUE_SHOWN + 1])
        context = {**self.admin_site.each_context(request), "opts": self.opts,
                   "title": gettext("Waivers awaiting approval"), "waivers": waivers[:WAIVER_QUEUE_SHOWN],
                   "more": len(waivers) > WAIVER_QUEUE_SHOWN, "shown": WAIVER_QUEUE_SHOWN,
                   "agent_waiver_limit": remedies.AGENT_WAIVER_LIMIT, "changelist_url": self._url("changelist")}
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/complaints/complaint/waiver_queue.html", context)
