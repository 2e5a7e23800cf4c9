from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.defaults import page_not_found, server_error
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import two_factor
from accounts.security import staff_may_use_admin
from config import health
from config.analytics.views import analytics_view
from config.api.errors import json_404, json_500

api_v1 = [
    path("", include("risk.api.urls")),
    path("", include("accounts.api.urls")),
    path("", include("installments.api.urls")),
    path("", include("complaints.api.urls")),
]

admin.site.has_permission = staff_may_use_admin  # type: ignore[method-assign]
admin.site.site_header = _("Tally back office")
admin.site.site_title = _("Tally")
admin.site.index_title = _("Back office")

urlpatterns = [
    path("health/", health.liveness_view(), name="health"),
    path("ready/", health.readiness_view(), name="ready"),
    # staff two-factor sign-in (accounts/two_factor.py): before the admin's own URLs
    path("admin/2fa/verify/", two_factor.verify_view, name="staff-2fa-verify"),
    path("admin/2fa/setup/", two_factor.setup_view, name="staff-2fa-setup"),
    path("admin/2fa/backup-codes/", two_factor.backup_codes_view, name="staff-2fa-backup-codes"),
    path("admin/analytics/", admin.site.admin_view(analytics_view), name="analytics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]

handler404 = "config.urls.handler_404"
handler500 = "config.urls.handler_500"


def handler_404(request, exception=None):
    if request.path.startswith("/api/"):
        return json_404(request, exception)
    return page_not_found(request, exception)


def handler_500(request):
    if request.path.startswith("/api/"):
        return json_500(request)
    return server_error(request)
