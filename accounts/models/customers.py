"""Customers (docs/rules.md §3, §11: personal data)."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Collate, Upper
from django.utils.translation import gettext_lazy as _

from accounts import pii
from accounts.money import money_field


class Customer(models.Model):
    """A store customer. The ID number is never stored in clear text."""

    external_id = models.CharField(_("store customer id"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100)
    id_number_encrypted = models.TextField(_("ID number (encrypted)"))
    id_number_hash = models.CharField(max_length=64, db_index=True, verbose_name=_("id number hash"))
    id_number_masked = models.CharField(_("ID number"), max_length=18)
    phone = models.CharField(_("phone"), max_length=20, db_index=True)
    store_status = models.CharField(_("store account status"), max_length=16)
    store_since = models.DateField(_("store customer since"))
    orders_12m = models.PositiveIntegerField(_("orders in 12 months"), default=0)
    spend_12m = money_field(verbose_name=_("spend in 12 months"))
    return_rate = models.DecimalField(_("return rate"), max_digits=5, decimal_places=4, default=0)
    language = models.CharField(max_length=10, default="zh-hans", verbose_name=_("language"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [("view_full_id_number", _("Can view full ID numbers (logged)"))]
        # the back office's search by the start of a name (accounts/name_search.py)
        indexes = [models.Index(Collate(Upper("name"), "C"), name="customer_name_prefix")]

    def __str__(self) -> str:
        return f"{self.external_id} {self.name}"

    def set_id_number(self, raw: str) -> None:
        value = pii.normalize_id_number(raw)
        self.id_number_encrypted = pii.encrypt(value)
        self.id_number_hash = pii.keyed_hash(value)
        self.id_number_masked = pii.mask_id_number(value)

    def reveal_id_number(self) -> str:
        """Clear text. Callers must check the permission and log the view
        (``accounts.customers.id_number_reveal``)."""
        return pii.decrypt(self.id_number_encrypted)

    @property
    def phone_masked(self) -> str:
        return pii.mask_phone(self.phone)
