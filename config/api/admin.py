"""The storefront's service clients (read-only: tokens are created and rotated by
``manage.py create_api_client``)."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin.base import ReadOnlyAdmin

from .models import ApiClient


@admin.register(ApiClient)
class ApiClientAdmin(ReadOnlyAdmin):
    """Service clients; tokens are created and rotated by ``manage.py create_api_client``."""

    list_display = ("name", "is_active", "created_at", "rotated_at")
    fields = ("name", "is_active", "created_at", "rotated_at")
    readonly_fields = fields
