"""The applications' pages (read-only): the store profile as received (masked), the score
breakdown, the reasons and the policy version that decided."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.admin.base import IndexedSearchMixin, ReadOnlyAdmin
from accounts.exports import ChangeListExportMixin, Column
from accounts.pii import mask_phone
from accounts.search import PersonalDataSearchMixin
from risk.decision_display import breakdown_rows, reason_rows
from risk.models import Application


def _reasons_cell(application: Application) -> str:
    return "; ".join(f"{r['code']}: {r['message']}" for r in reason_rows(application.reasons or []))


@admin.register(Application)
class ApplicationAdmin(ChangeListExportMixin, PersonalDataSearchMixin, IndexedSearchMixin, ReadOnlyAdmin):
    list_display = ("id", "external_id", "kind", "status", "score", "policy_version", "created_at")
    list_filter = ("status", "kind")
    list_select_related = ("customer", "policy")
    search_fields = ("customer__external_id",)
    search_help_text = _("Store customer id, phone number or full ID number")
    id_number_hash_fields = ("id_number_hash", "customer__id_number_hash")
    phone_fields = ("phone", "customer__phone")
    show_full_result_count = False
    ordering = ("-id",)  # newest first through the primary key (created_at has no index)
    fieldsets = (
        (_("Applicant"), {"fields": ("customer", "kind", "name", "id_number_masked", "phone_masked",
                                     "store_status", "store_since", "orders_12m", "spend_12m", "return_rate",
                                     "repayment_card_token")}),
        (_("Decision"), {"fields": ("status", "score", "breakdown_table", "flags_display", "reasons_display",
                                    "proposed_limit", "credit_limit", "policy", "account", "decided_by",
                                    "decided_at", "business_date", "created_at")}),
    )
    readonly_fields = ("customer", "kind", "name", "id_number_masked", "phone_masked", "store_status",
                       "store_since", "orders_12m", "spend_12m", "return_rate", "repayment_card_token", "status",
                       "score", "breakdown_table", "flags_display", "reasons_display", "proposed_limit",
                       "credit_limit", "policy", "account", "decided_by", "decided_at", "business_date",
                       "created_at")
    # The decisions as listed (filter by status for the decided ones), with their reasons; no
    # name, ID number or phone.
    csv_export_name = "review-decisions"
    csv_columns = (
        Column(_("application"), lambda a: a.pk),
        Column(_("submitted at"), lambda a: a.created_at),
        Column(_("business date"), lambda a: a.business_date),
        Column(_("store customer id"), lambda a: a.customer.external_id),
        Column(_("kind"), lambda a: a.get_kind_display()),
        Column(_("status"), lambda a: a.get_status_display()),
        Column(_("score"), lambda a: a.score),
        Column(_("review flags"), lambda a: ", ".join(a.flags or [])),
        Column(_("reasons"), _reasons_cell),
        Column(_("proposed limit"), lambda a: a.proposed_limit),
        Column(_("approved limit"), lambda a: a.credit_limit),
        Column(_("policy version"), lambda a: f"v{a.policy.version}"),
        Column(_("decided by"), lambda a: a.decided_by.get_username() if a.decided_by else ""),
        Column(_("decided at"), lambda a: a.decided_at),
    )

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("customer", "policy", "decided_by",
                                                            "account__customer")

    @admin.display(description=_("store customer id"), ordering="customer__external_id")
    def external_id(self, application: Application) -> str:
        return application.customer.external_id

    @admin.display(description=_("policy version"), ordering="policy__version")
    def policy_version(self, application: Application) -> str:
        return f"v{application.policy.version}"

    @admin.display(description=_("phone"))
    def phone_masked(self, application: Application) -> str:
        return mask_phone(application.phone)

    @admin.display(description=_("score breakdown"))
    def breakdown_table(self, application: Application) -> str:
        rows = breakdown_rows(application.score_breakdown or {})
        if not rows:
            return "-"
        return format_html("<table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
                           gettext("feature"), gettext("value"), gettext("points"),
                           format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                                            ((r["feature"], r["value"], r["points"]) for r in rows)))

    @admin.display(description=_("review flags"))
    def flags_display(self, application: Application) -> str:
        return ", ".join(application.flags) or "-"

    @admin.display(description=_("reasons"))
    def reasons_display(self, application: Application) -> str:
        rows = reason_rows(application.reasons or [])
        if not rows:
            return "-"
        return format_html("<ul>{}</ul>", format_html_join(
            "", "<li><code>{}</code> {} <em>{}</em></li>", ((r["code"], r["message"], r["detail"]) for r in rows)))
