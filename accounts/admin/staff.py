"""The business calendar (read-only), each staff member's own preferences, and the users' page
with the reset of their two-factor authentication."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.audit_trail import audit_record, staff_user
from accounts.models import BusinessCalendar, StaffProfile
from accounts.two_factor import two_factor_reset

from .base import ReadOnlyAdmin
from .permissions import TranslatedUserAdmin


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(ReadOnlyAdmin):
    list_display = ("current_date", "updated_at")
    fields = ("current_date", "updated_at")
    readonly_fields = fields


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    """Each staff member chooses the language of their own back office; a superuser may
    change anyone's."""

    list_display = ("user", "language")
    actions = None

    def _own(self, request: HttpRequest, obj: StaffProfile | None) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        return user.is_superuser or obj is None or obj.user_id == user.pk

    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request).select_related("user")
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: StaffProfile | None = None) -> bool:
        return self._own(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: StaffProfile | None = None) -> bool:
        return self._own(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        if request.user.is_superuser:
            return True
        # the language middleware has already loaded (and cached) the user's profile, or its absence
        return (request.user.is_active and request.user.is_staff
                and getattr(request.user, "staff_profile", None) is None)

    def has_delete_permission(self, request: HttpRequest, obj: StaffProfile | None = None) -> bool:
        return request.user.is_superuser

    def get_fields(self, request: HttpRequest, obj: StaffProfile | None = None):
        if request.user.is_superuser:
            return ("user", "language")
        return ("language",) if obj is None else ("user", "language")

    def get_readonly_fields(self, request: HttpRequest, obj: StaffProfile | None = None):
        if request.user.is_superuser:
            return ()
        return () if obj is None else ("user",)

    def save_model(self, request: HttpRequest, obj: StaffProfile, form, change: bool) -> None:
        if not request.user.is_superuser:
            user = staff_user(request.user)
            if user is None:  # not reached: the admin site lets members of staff in only
                raise PermissionDenied
            obj.user = user
        row = StaffProfile.objects.filter(pk=obj.pk).values("language").first() if change else None
        before: dict[str, Any] = {"language": row["language"]} if row else {}
        super().save_model(request, obj, form, change)
        if before.get("language") != obj.language:
            audit_record(acting_user=request.user, action="staff_profile.language_set", obj=obj,
                                  before=before, after={"user": obj.user.username, "language": obj.language})


# --- staff two-factor authentication (accounts/two_factor.py) -----------------------------------


class StaffUserAdmin(TranslatedUserAdmin):
    """Users, with the superuser's **Reset two-factor authentication** action (audited)."""

    actions = ["reset_two_factor"]
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "two_factor_enrolled")

    def get_queryset(self, request: HttpRequest):
        enrolled = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(two_factor=Exists(enrolled))

    @admin.display(description=_("two-factor"), boolean=True, ordering="two_factor")
    def two_factor_enrolled(self, user: User) -> bool:
        return bool(getattr(user, "two_factor", False))

    def has_reset_two_factor_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    @admin.action(description=_("Reset two-factor authentication (they set it up again at their next sign-in)"),
                  permissions=["reset_two_factor"])
    def reset_two_factor(self, request: HttpRequest, queryset) -> None:
        names = []
        for user in queryset.order_by("pk"):
            two_factor_reset(user=user, acting_user=request.user, reason="admin action")
            names.append(user.get_username())
        messages.success(request, gettext("Two-factor authentication reset for: %(names)s.")
                         % {"names": ", ".join(names)})


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)
# Devices are enrolled and reset through the audited pages and action above, never edited as
# rows (their secrets would show): django-otp's own admin pages are removed.
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)
