""""My notifications": each member of staff reads their own staff inbox (accounts.staff_inbox),
newest first, 25 a page, and marks one or all read. Nobody reads another's inbox here, a
superuser neither."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_POST

from accounts.audit_trail import staff_user
from accounts.ids import parse_id
from accounts.models import StaffNotification
from accounts.staff_inbox import staff_inbox_mark_read, staff_inbox_of

PER_PAGE = 25


@admin.register(StaffNotification)
class StaffNotificationAdmin(admin.ModelAdmin):
    """The user's own inbox; nothing is added, edited or deleted through a form."""

    inbox_template = "admin/accounts/staffnotification/inbox.html"
    actions = None

    def _staff(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return False  # reached from the header's "My notifications" link, not the index

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._staff(request) and (obj is None or obj.recipient_id == request.user.pk)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("", self.admin_site.admin_view(self.inbox_view), name="{}_{}_changelist".format(*info)),
            path("read-all/", self.admin_site.admin_view(require_POST(self.read_all_view)),
                 name="{}_{}_read_all".format(*info)),
            path("<path:object_id>/read/", self.admin_site.admin_view(require_POST(self.read_view)),
                 name="{}_{}_read".format(*info)),
        ]

    def _inbox_url(self, request: HttpRequest) -> str:
        url = reverse("admin:accounts_staffnotification_changelist", current_app=self.admin_site.name)
        page = parse_id(request.POST.get("page", ""))
        return f"{url}?page={page}" if page else url

    def inbox_view(self, request: HttpRequest) -> HttpResponse:
        user = staff_user(request.user)
        if user is None or not self._staff(request):
            return HttpResponseRedirect(reverse("admin:index"))
        page = Paginator(staff_inbox_of(user), PER_PAGE).get_page(request.GET.get("page"))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("My notifications"),
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "page": page,
            "notifications": list(page.object_list),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.inbox_template, context)

    def read_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        user = staff_user(request.user)
        notification_id = parse_id(object_id)
        if user is not None and notification_id is not None:
            marked = staff_inbox_mark_read(acting_user=user, notification_ids=[notification_id])
            if not marked:
                messages.info(request, gettext("Nothing to mark: that notification is read already or not yours."))
        return HttpResponseRedirect(self._inbox_url(request))

    def read_all_view(self, request: HttpRequest) -> HttpResponse:
        user = staff_user(request.user)
        if user is not None:
            marked = staff_inbox_mark_read(acting_user=user)
            messages.success(request, ngettext("%(count)d notification marked read.",
                                               "%(count)d notifications marked read.", marked) % {"count": marked})
        return HttpResponseRedirect(self._inbox_url(request))
