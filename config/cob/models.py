"""The nightly close's run records: one run per business date, its steps, and the accounts
that failed in a step (docs/rules.md §2).

The tables keep the names they were created with (``accounts_cobrun`` …): the models moved
here from ``accounts`` without a table change (docs/decisions/0021-layers-and-lifecycle.md)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import CreditAccount


class CobRun(models.Model):
    business_date = models.DateField(_("business date"), unique=True)
    status = models.CharField(_("status"), max_length=12, default="running")  # running | completed
    started_at = models.DateTimeField(auto_now_add=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    attempts = models.PositiveSmallIntegerField(default=1, verbose_name=_("attempts"))

    class Meta:
        db_table = "accounts_cobrun"
        verbose_name = _("close of business run")
        verbose_name_plural = _("close of business runs")
        ordering = ["-business_date"]

    def __str__(self) -> str:
        return f"{self.business_date} {self.status}"


class CobStepRun(models.Model):
    run = models.ForeignKey(CobRun, on_delete=models.CASCADE, related_name="steps", verbose_name=_("run"))
    position = models.PositiveSmallIntegerField(verbose_name=_("position"))
    step = models.CharField(max_length=40, verbose_name=_("step"))
    status = models.CharField(max_length=12, default="running", verbose_name=_("status"))
    accounts = models.PositiveIntegerField(default=0, verbose_name=_("accounts"))
    processed = models.PositiveIntegerField(default=0, verbose_name=_("processed"))
    failures = models.PositiveIntegerField(default=0, verbose_name=_("failures"))
    detail = models.JSONField(default=dict, blank=True, verbose_name=_("detail"))
    started_at = models.DateTimeField(auto_now_add=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        db_table = "accounts_cobsteprun"
        verbose_name = _("close of business step")
        verbose_name_plural = _("close of business steps")
        ordering = ["run", "position", "id"]

    def __str__(self) -> str:
        return f"{self.run.business_date} {self.position}. {self.step}"


class CobFailure(models.Model):
    step_run = models.ForeignKey(CobStepRun, on_delete=models.CASCADE, related_name="failure_rows", verbose_name=_("step run"))
    account = models.ForeignKey(CreditAccount, null=True, on_delete=models.SET_NULL, related_name="cob_failures", verbose_name=_("account"))
    item_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("item id"))  # the account, or the attempt
    error = models.TextField(verbose_name=_("error"))
    # The next closes retry the account's step for the failure's business date until it
    # succeeds (docs/rules.md §2); then the failure is resolved.
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True, verbose_name=_("resolved at"))
    retries = models.PositiveSmallIntegerField(default=0, verbose_name=_("retries"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        db_table = "accounts_cobfailure"
        verbose_name = _("close of business failure")
        verbose_name_plural = _("close of business failures")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.step_run}: {self.account_id}"
