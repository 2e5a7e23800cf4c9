"""Finding customers by name in the back office (docs/rules.md §11 "Personal data", decision
0033).

Names are stored as the storefront sends them (``Customer.name``, plain text: unlike the ID
number they are no secret to staff, who see them on every page). A search term with a letter
in it (any script) finds the customers whose name **starts with** it, case-insensitively,
after the term's width and spacing are normalised (NFKC, one space between words): ``王`` and
``王小`` find ``王小明``; ``li lei`` finds ``Li Lei``. The match is an indexed range scan on
``UPPER(name) COLLATE "C"`` (index ``customer_name_prefix``: in the "C" collation a
``LIKE 'prefix%'`` uses a plain b-tree whatever the database's collation), never a
``LIKE '%…%'`` over the table, so its cost does not grow with the number of customers. A given name alone
(``小明``, ``Lei``) is not a prefix and finds nothing: search by the full name or its start.

ID numbers (18 characters, possibly ending in ``X``) are left to the keyed-hash search and are
never compared with names."""

from __future__ import annotations

import unicodedata

from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Collate, Upper

from .search import ID_NUMBER_RE

NAME_MAX_LENGTH = 100  # Customer.name's length: a longer term cannot be a name's start


def name_term(search_term: str) -> str | None:
    """The normalised name to look for, or None when the term cannot be (the start of) a name:
    no letter in it, an ID number, or longer than any name."""
    term = " ".join(unicodedata.normalize("NFKC", search_term).split())
    if not term or len(term) > NAME_MAX_LENGTH or ID_NUMBER_RE.match(term) or "\x00" in term:
        return None
    if not any(character.isalpha() for character in term):
        return None
    return term


NAME_KEY = "name_search_key"


def name_key() -> Collate:
    """``UPPER(name) COLLATE "C"``: the expression of the ``customer_name_prefix`` index."""
    return Collate(Upper("name"), "C")


def customers_named(queryset: QuerySet) -> QuerySet:
    """``queryset`` (of customers) with the alias the name search filters on."""
    return queryset.alias(**{NAME_KEY: name_key()})


def name_starts_with(term: str) -> Q:
    """Customers whose name starts with ``term``, case-insensitively (PostgreSQL's UPPER on both
    sides); needs the alias of ``customers_named``. ``LIKE 'TERM%'`` in the "C" collation is a
    range scan of the ``customer_name_prefix`` index."""
    return Q(**{f"{NAME_KEY}__startswith": Upper(Value(term))})
