"""The customers' pages: the list (search by store id, name, phone or full ID number), the masked
profile, the logged reveal of a full ID number and the link to the 360° view."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.customer360 import VIEW_PERMISSION as VIEW_360_PERMISSION
from accounts.customer360 import audit_url_for_customer, customer_360_url, customer_360_view
from accounts.customers import id_number_reveal
from accounts.errors import ApplicationError
from accounts.models import Customer
from accounts.name_search import customers_named, name_starts_with, name_term
from accounts.pii import mask_phone
from accounts.search import PersonalDataSearchMixin

from .base import IndexedSearchMixin, ReadOnlyAdmin


@admin.register(Customer)
class CustomerAdmin(PersonalDataSearchMixin, IndexedSearchMixin, ReadOnlyAdmin):
    change_form_template = "admin/accounts/customer/change_form.html"
    list_display = ("external_id", "name", "id_number_masked", "phone_masked", "store_status", "created_at",
                    "customer_360_link")
    list_filter = ("store_status",)
    search_fields = ("external_id",)
    search_help_text = _("Store customer id, name (or its start), phone number or full ID number")
    id_number_hash_fields = ("id_number_hash",)
    phone_fields = ("phone",)
    show_full_result_count = False
    fields = ("external_id", "name", "id_number_masked", "phone_masked", "store_status", "store_since",
              "orders_12m", "spend_12m", "return_rate", "language", "created_at", "updated_at")
    readonly_fields = fields

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        """Store id, phone and full ID number (``PersonalDataSearchMixin``), and the start of
        the name (``accounts.name_search``: an indexed prefix match)."""
        matched, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = name_term(search_term)
        if term is None:
            return matched, may_have_duplicates
        # one WHERE … OR …, each side an index lookup (never ``pk IN (the other search)``)
        return customers_named(matched) | customers_named(queryset).filter(name_starts_with(term)), False

    @admin.display(description=_("phone"))
    def phone_masked(self, customer: Customer) -> str:
        return mask_phone(customer.phone)

    @admin.display(description=_("360° view"))
    def customer_360_link(self, customer: Customer) -> str:
        return format_html('<a href="{}">{}</a>', customer_360_url(customer.pk), gettext("360° view"))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/reveal-id-number/",
                 self.admin_site.admin_view(never_cache(require_POST(self.reveal_id_number_view))),
                 name="{}_{}_reveal_id_number".format(*info)),
            path("<path:object_id>/360/",
                 self.admin_site.admin_view(lambda request, object_id: customer_360_view(self, request, object_id)),
                 name="{}_{}_360".format(*info)),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None):
        extra_context = {**(extra_context or {}),
                         "can_reveal_id_number": request.user.has_perm("accounts.view_full_id_number"),
                         "customer_360_url": customer_360_url(unquote(object_id))
                         if request.user.has_perm(VIEW_360_PERMISSION) else "",
                         "audit_url": audit_url_for_customer(unquote(object_id))
                         if request.user.has_perm("accounts.view_auditevent") else ""}
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    def reveal_id_number_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Show the full ID number once, in this response only (it is never put in a message
        cookie or the session). ``id_number_reveal`` checks the permission and logs the view."""
        if not request.user.has_perm("accounts.view_full_id_number"):
            raise PermissionDenied
        customer = self.get_object(request, unquote(object_id))
        if customer is None:
            # ModelAdmin._get_obj_does_not_exist_redirect is Django's; django-stubs lacks it.
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)  # type: ignore[attr-defined]
        if not self.has_view_permission(request, customer):
            raise PermissionDenied
        change_url = reverse("admin:accounts_customer_change", args=[customer.pk], current_app=self.admin_site.name)
        try:
            id_number = id_number_reveal(customer=customer, acting_user=request.user,
                                                  purpose=request.POST.get("purpose", "").strip())
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Full ID number"),
            "opts": self.opts,
            "customer": customer,
            "id_number": id_number,
            "change_url": change_url,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/accounts/customer/id_number_revealed.html", context)
