"""Admin search by personal data (docs/decisions/0006, 0015): a full ID number is found by
its keyed hash (never stored or matched in clear text); a phone number by exact match on the
stored digits, in addition to the page's own search. Mixed into the admins of customers,
credit accounts, applications and complaints."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.contrib.admin.utils import get_fields_from_path
from django.contrib.postgres.expressions import ArraySubquery
from django.db import models
from django.db.models import BooleanField, Expression, F, Q, Subquery

from .pii import keyed_hash

ID_NUMBER_RE = re.compile(r"^\d{17}[\dXx]$")
PHONE_RE = re.compile(r"^\+?\d{7,19}$")


class EqualsAny(Expression):
    """``column = ANY(ARRAY(subquery))``: PostgreSQL runs the subquery once, first, and looks
    the column's values up in its index — also inside an ``OR``, where ``column IN
    (subquery)`` would be checked row by row over the whole table."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, column: Any, array: Any) -> None:
        super().__init__()
        self.column, self.array = column, array

    def get_source_expressions(self) -> list:
        return [self.column, self.array]

    def set_source_expressions(self, exprs) -> None:
        self.column, self.array = exprs

    def as_sql(self, compiler, connection, **extra):
        column, column_params = compiler.compile(self.column)
        array, array_params = compiler.compile(self.array)
        return f"{column} = ANY({array})", (*column_params, *array_params)


def exact_match(model: type[models.Model], field: str, term: str) -> Q:
    """``field`` (a column, or ``relation__column``) equal to ``term``, written so that
    PostgreSQL answers it from indexes (docs/decisions/0036): a column of the model's own table
    by equality; a column of a related table through that table's index first — ``relation_id
    = (SELECT id … LIMIT 1)`` for a unique column, ``relation_id = ANY(ARRAY(SELECT id …))``
    otherwise — then the list's index on the relation."""
    path = get_fields_from_path(model, field)
    if len(path) == 2 and path[0].is_relation and path[0].concrete and (path[0].many_to_one or path[0].one_to_one):
        related_model: Any = path[0].related_model
        related = related_model._default_manager.filter(**{path[1].name: term}).values("pk")
        if path[1].unique:
            return Q(**{path[0].name: Subquery(related[:1])})
        return Q(EqualsAny(F(path[0].attname), ArraySubquery(related)))
    return Q(**{field: term})


def _any_of(model: type[models.Model], fields: tuple[str, ...], value: str) -> Q:
    condition = Q()
    for field in fields:
        condition |= exact_match(model, field, value)
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
            return queryset.filter(_any_of(queryset.model, self.id_number_hash_fields, keyed_hash(term))), False
        matched, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if self.phone_fields and PHONE_RE.match(term):
            # one WHERE … OR …: each side an index lookup (never ``pk IN (the other search)``)
            return matched | queryset.filter(_any_of(queryset.model, self.phone_fields, term)), False
        return matched, may_have_duplicates
