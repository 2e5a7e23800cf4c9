"""Admin search by personal data (docs/decisions/0006, 0015): a full ID number is found by
its keyed hash (never stored or matched in clear text); a phone number by exact match on the
stored digits, in addition to the page's own search. Mixed into the admins of customers,
credit accounts, applications and complaints."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.db.models import Q

from .pii import keyed_hash

ID_NUMBER_RE = re.compile(r"^\d{17}[\dXx]$")
PHONE_RE = re.compile(r"^\+?\d{7,19}$")


def _any_of(fields: tuple[str, ...], value: str) -> Q:
    condition = Q()
    for field in fields:
        condition |= Q(**{field: value})
    return condition


if TYPE_CHECKING:
    from django.contrib import admin

    _ModelAdminMixin = admin.ModelAdmin
else:
    _ModelAdminMixin = object


class PersonalDataSearchMixin(_ModelAdminMixin):
    """``id_number_hash_fields``: lookups of ID-number hashes (``customer__id_number_hash``);
    ``phone_fields``: lookups of phone numbers (``customer__phone``)."""

    id_number_hash_fields: tuple[str, ...] = ()
    phone_fields: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term: str):
        term = search_term.strip()
        if self.id_number_hash_fields and ID_NUMBER_RE.match(term):
            return queryset.filter(_any_of(self.id_number_hash_fields, keyed_hash(term))), False
        matched, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if self.phone_fields and PHONE_RE.match(term):
            return queryset.filter(Q(pk__in=matched.values("pk")) | _any_of(self.phone_fields, term)), False
        return matched, may_have_duplicates
