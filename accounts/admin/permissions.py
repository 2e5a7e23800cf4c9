"""Permission names in the staff member's language on the group and user pages.

Django stores each permission's name as English text when migrating ("Can add credit
account"), so its permission pickers stay English whatever the language. Here the label is
built when shown: Django's four model permissions from the model's translated name, our own
permissions (``Meta.permissions``, whose names are in the catalogue) through gettext.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission, User
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

DEFAULT_ACTIONS = {
    "add": _("Can add %(model)s"),
    "change": _("Can change %(model)s"),
    "delete": _("Can delete %(model)s"),
    "view": _("Can view %(model)s"),
}


def permission_label(permission: Permission) -> str:
    """``app | model | what it allows``, like Django's own label, in the active language."""
    content_type = permission.content_type
    model = content_type.model_class()
    action, _sep, model_name = permission.codename.partition("_")
    if model is not None and action in DEFAULT_ACTIONS and model_name == model._meta.model_name:
        name = str(DEFAULT_ACTIONS[action]) % {"model": model._meta.verbose_name}
    else:
        name = gettext(permission.name)
    return f"{content_type} | {name}"


class TranslatedPermissionsMixin:
    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and db_field.name in ("permissions", "user_permissions"):
            field.label_from_instance = permission_label
        return field


class TranslatedGroupAdmin(TranslatedPermissionsMixin, GroupAdmin):
    pass


class TranslatedUserAdmin(TranslatedPermissionsMixin, UserAdmin):
    pass


for _model, _admin in ((Group, TranslatedGroupAdmin), (User, TranslatedUserAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin)
