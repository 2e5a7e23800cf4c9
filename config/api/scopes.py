"""The scopes of the endpoints that existed before scopes (API v1.0), declared here by the
composition root on their view classes at start-up (``ApiConfig.ready``) so that their apps'
API modules stay as they were. A new endpoint declares ``required_scope`` on its own class
instead (docs/api.md, "Scopes"); a class that already declares one keeps it."""

from __future__ import annotations

from django.utils.module_loading import import_string

from .models import SCOPES

V1_WRITE_SCOPES: dict[str, str] = {
    "risk.api.views.ApplicationCreateView": "applications",
    "installments.api.views.PurchaseCreateView": "purchases",
    "installments.api.views.BillPlanCreateView": "purchases",  # a statement converted into installments
    "installments.api.views.RefundCreateView": "refunds",
    "installments.api.repayments.RepaymentCreateView": "repayments",
    "complaints.api.views.ClosureRequestCreateView": "closures",
    "complaints.api.views.ComplaintCreateView": "complaints",
}


def declare_v1_scopes() -> None:
    for path, scope in V1_WRITE_SCOPES.items():
        if scope not in SCOPES:
            raise ValueError(f"{path}: unknown scope {scope!r}")
        view_class = import_string(path)
        if getattr(view_class, "required_scope", None) is None:
            view_class.required_scope = scope
