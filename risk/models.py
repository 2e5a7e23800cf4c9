"""Scoring policies (versioned data), credit applications and manual-review cases."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KT
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import RETURN_VALUE, FSMField, FSMModelMixin, transition

from accounts import clock
from accounts.models import MONEY

from .policy import PolicyParams


class PolicyStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    ACTIVE = "active", pgettext_lazy("policy status", "active")
    RETIRED = "retired", _("retired")


class ScoringPolicy(FSMModelMixin, models.Model):
    """One version of the scoring policy. Only drafts are editable; exactly one is active."""

    version = models.PositiveIntegerField(_("version"), unique=True)
    status = FSMField(_("status"), max_length=10, choices=PolicyStatus.choices, default=PolicyStatus.DRAFT,
                      protected=True)
    params = models.JSONField(_("parameters"))
    notes = models.TextField(_("notes"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("created by"))
    # Everyone who created or edited this version: none of them may activate it (four eyes).
    authors = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+",
                                     verbose_name=_("authors"))
    activated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", verbose_name=_("activated by"))
    activated_at = models.DateTimeField(null=True, blank=True, verbose_name=_("activated at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("scoring policy")
        verbose_name_plural = _("scoring policies")
        ordering = ["-version"]
        permissions = [
            ("edit_policy", _("Can edit draft scoring policies")),
            ("activate_policy", _("Can activate a scoring policy version")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="one_active_policy"),
        ]
        triggers = [
            # The database itself refuses edits to the parameters of a non-draft version.
            pgtrigger.Protect(
                name="only_drafts_editable",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__status__in=["active", "retired"])
                & pgtrigger.Q(old__params__df=pgtrigger.F("new__params")),
            ),
            pgtrigger.Protect(name="policies_never_deleted_unless_draft", operation=pgtrigger.Delete,
                              condition=pgtrigger.Q(old__status__in=["active", "retired"])),
        ]

    def __str__(self) -> str:
        return f"v{self.version} ({self.get_status_display()})"

    @property
    def parsed(self) -> PolicyParams:
        return PolicyParams.from_json(self.params)

    @transition(field=status, source=PolicyStatus.DRAFT, target=PolicyStatus.ACTIVE)
    def activate(self) -> None:
        pass

    @transition(field=status, source=PolicyStatus.ACTIVE, target=PolicyStatus.RETIRED)
    def retire(self) -> None:
        pass


class ApplicationKind(models.TextChoices):
    ACTIVATION = "activation", _("activation")
    REOPEN = "reopen", _("reopen")


class ApplicationStatus(models.TextChoices):
    RECEIVED = "received", _("received")
    PENDING_RETRY = "pending_retry", _("pending retry")
    IN_REVIEW = "in_review", _("in review")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")


class Application(FSMModelMixin, models.Model):
    """A credit application with a snapshot of the store profile it was decided on."""

    customer = models.ForeignKey("accounts.Customer", on_delete=models.PROTECT, related_name="applications", verbose_name=_("customer"))
    kind = models.CharField(_("kind"), max_length=12, choices=ApplicationKind.choices)
    status = FSMField(_("status"), max_length=16, choices=ApplicationStatus.choices,
                      default=ApplicationStatus.RECEIVED, protected=True, db_index=True)
    # snapshot of the profile as submitted
    name = models.CharField(_("name"), max_length=100)
    id_number_hash = models.CharField(max_length=64, db_index=True, verbose_name=_("id number hash"))
    id_number_masked = models.CharField(_("ID number"), max_length=18)
    phone = models.CharField(_("phone"), max_length=20)
    store_status = models.CharField(_("store account status"), max_length=16)
    store_since = models.DateField(_("store customer since"))
    orders_12m = models.PositiveIntegerField(_("orders in 12 months"))
    spend_12m = models.DecimalField(_("spend in 12 months"), **MONEY)
    return_rate = models.DecimalField(_("return rate"), max_digits=5, decimal_places=4)
    repayment_card_token = models.CharField(_("repayment card token"), max_length=64, blank=True)
    # decision
    score = models.IntegerField(_("score"), null=True, blank=True)
    score_breakdown = models.JSONField(_("score breakdown"), default=dict, blank=True)
    flags = models.JSONField(_("review flags"), default=list, blank=True)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    proposed_limit = models.DecimalField(_("proposed limit"), null=True, blank=True, **MONEY)
    credit_limit = models.DecimalField(_("approved limit"), null=True, blank=True, **MONEY)
    policy = models.ForeignKey(ScoringPolicy, on_delete=models.PROTECT, related_name="applications",
                               verbose_name=_("policy version"))
    account = models.ForeignKey("accounts.CreditAccount", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="applications", verbose_name=_("account"))
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("decided by"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    identity_attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("identity attempts"))
    next_identity_retry_at = models.DateTimeField(null=True, blank=True, db_index=True, verbose_name=_("next identity retry at"))
    business_date = models.DateField(_("business date"))
    # The code of the first stored reason, kept by PostgreSQL itself from ``reasons`` (a stored
    # generated column): the charts page counts applications by it without reading the JSON,
    # from ``application_business_date_cov`` alone when the range is a part of the table
    # (docs/decisions/0036).
    first_reason_code = models.GeneratedField(
        expression=KT("reasons__0__code"), output_field=models.CharField(max_length=64, null=True),
        db_persist=True, verbose_name=_("first reason code"))
    # The system's clock (not ``auto_now_add``): the velocity rule counts applications by it.
    created_at = models.DateTimeField(_("submitted at"), default=clock.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("application")
        verbose_name_plural = _("applications")
        ordering = ["-created_at", "-id"]
        permissions = [("decide_application", _("Can decide credit applications in review"))]
        # business_date: the charts page counts applications per business day (config/analytics)
        indexes = [models.Index(fields=["customer", "created_at"]),
                   # covering: the charts read only these columns of a range of days
                   models.Index(fields=["business_date"], include=["status", "identity_attempts",
                                                                    "first_reason_code"],
                                name="application_business_date_cov")]
        triggers = [
            # Every insert, delete and change of what the charts count appends -1 for the row's
            # old key and +1 for its new one to ApplicationDayDelta (no row is locked: no
            # contention, no deadlock); risk.day_counts folds them into ApplicationDayCount.
            pgtrigger.Trigger(
                name="application_day_deltas",
                when=pgtrigger.After,
                operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
                declare=[("old_reason", "varchar(64)"), ("new_reason", "varchar(64)"),
                         ("old_failed", "boolean"), ("new_failed", "boolean")],
                func="""
                    IF TG_OP <> 'INSERT' THEN
                        old_reason := CASE WHEN OLD.status <> 'approved' THEN COALESCE(OLD.first_reason_code, '')
                                           ELSE '' END;
                        old_failed := OLD.status = 'pending_retry' OR OLD.identity_attempts >= 2;
                    END IF;
                    IF TG_OP <> 'DELETE' THEN
                        new_reason := CASE WHEN NEW.status <> 'approved' THEN COALESCE(NEW.first_reason_code, '')
                                           ELSE '' END;
                        new_failed := NEW.status = 'pending_retry' OR NEW.identity_attempts >= 2;
                    END IF;
                    IF TG_OP = 'UPDATE' AND OLD.business_date = NEW.business_date AND OLD.status = NEW.status
                            AND old_reason = new_reason AND old_failed = new_failed THEN
                        RETURN NULL;
                    END IF;
                    IF TG_OP <> 'INSERT' THEN
                        INSERT INTO risk_applicationdaydelta (business_date, status, reason_code, provider_failed,
                                                              applications)
                        VALUES (OLD.business_date, OLD.status, old_reason, old_failed, -1);
                    END IF;
                    IF TG_OP <> 'DELETE' THEN
                        INSERT INTO risk_applicationdaydelta (business_date, status, reason_code, provider_failed,
                                                              applications)
                        VALUES (NEW.business_date, NEW.status, new_reason, new_failed, 1);
                    END IF;
                    RETURN NULL;
                """,
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} {self.get_status_display()}"

    @transition(field=status, source=[ApplicationStatus.RECEIVED, ApplicationStatus.PENDING_RETRY,
                                      ApplicationStatus.IN_REVIEW], target=ApplicationStatus.APPROVED)
    def approve(self) -> None:
        pass

    @transition(field=status, source=[ApplicationStatus.RECEIVED, ApplicationStatus.PENDING_RETRY,
                                      ApplicationStatus.IN_REVIEW], target=ApplicationStatus.REJECTED)
    def reject(self) -> None:
        pass

    @transition(field=status, source=[ApplicationStatus.RECEIVED, ApplicationStatus.PENDING_RETRY],
                target=ApplicationStatus.IN_REVIEW)
    def send_to_review(self) -> None:
        pass

    @transition(field=status, source=[ApplicationStatus.RECEIVED, ApplicationStatus.PENDING_RETRY],
                target=ApplicationStatus.PENDING_RETRY)
    def wait_for_identity_provider(self) -> None:
        pass


class ReviewStatus(models.TextChoices):
    OPEN = "open", _("open")
    CLAIMED = "claimed", _("claimed")
    AWAITING_CONFIRMATION = "awaiting_confirmation", _("awaiting risk-manager confirmation")
    ESCALATED = "escalated", _("escalated")
    DECIDED = "decided", _("decided")


class ReviewCase(FSMModelMixin, models.Model):
    """A flagged application in the manual-review queue (docs/rules.md §3)."""

    application = models.OneToOneField(Application, on_delete=models.PROTECT, related_name="review_case", verbose_name=_("application"))
    status = FSMField(_("status"), max_length=24, choices=ReviewStatus.choices, default=ReviewStatus.OPEN,
                      protected=True, db_index=True)
    due_at = models.DateTimeField(_("due"), db_index=True)
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("claimed by"))
    claimed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("claimed at"))
    last_activity_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last activity at"))
    escalated = models.BooleanField(_("escalated"), default=False)
    escalation_note = models.TextField(blank=True, verbose_name=_("escalation note"))
    proposed_limit = models.DecimalField(_("proposed limit"), null=True, blank=True, **MONEY)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("proposed by"))
    proposal_note = models.TextField(blank=True, verbose_name=_("proposal note"))
    decision = models.CharField(_("decision"), max_length=16, blank=True)
    decision_reason_code = models.CharField(max_length=40, blank=True, verbose_name=_("decision reason code"))
    decision_note = models.TextField(_("decision note"), blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("decided by"))
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    deadline_breached = models.BooleanField(default=False, verbose_name=_("deadline breached"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("review case")
        verbose_name_plural = _("review cases")
        ordering = ["due_at", "id"]
        permissions = [("confirm_high_limit", _("Can confirm limits above the high-limit threshold"))]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self) -> str:
        return _("Case #%(id)s (%(status)s)") % {"id": self.pk, "status": self.get_status_display()}

    @transition(field=status, source=[ReviewStatus.OPEN, ReviewStatus.CLAIMED, ReviewStatus.ESCALATED,
                                      ReviewStatus.AWAITING_CONFIRMATION], target=ReviewStatus.CLAIMED)
    def claim(self) -> None:
        pass

    @transition(field=status, source=ReviewStatus.CLAIMED,
                target=RETURN_VALUE(ReviewStatus.OPEN, ReviewStatus.ESCALATED, ReviewStatus.AWAITING_CONFIRMATION))
    def release(self) -> str:
        """Back to the queue in the state it was claimed from."""
        if self.proposed_limit is not None:
            return ReviewStatus.AWAITING_CONFIRMATION
        if self.escalated:
            return ReviewStatus.ESCALATED
        return ReviewStatus.OPEN

    @transition(field=status, source=ReviewStatus.CLAIMED, target=ReviewStatus.ESCALATED)
    def escalate(self) -> None:
        pass

    @transition(field=status, source=ReviewStatus.CLAIMED, target=ReviewStatus.AWAITING_CONFIRMATION)
    def propose_high_limit(self) -> None:
        pass

    @transition(field=status, source=[ReviewStatus.CLAIMED, ReviewStatus.AWAITING_CONFIRMATION],
                target=ReviewStatus.DECIDED)
    def decide(self) -> None:
        pass


class ApplicationDayCountBase(models.Model):
    """Applications of one business date in one status with one first reason (for those not
    approved; '' for none) that did or did not meet the identity provider down — the key the
    charts count by (config/analytics/activations.py)."""

    business_date = models.DateField(_("business date"))
    status = models.CharField(_("status"), max_length=16, choices=ApplicationStatus.choices)
    reason_code = models.CharField(_("reason code"), max_length=64, blank=True)
    provider_failed = models.BooleanField(_("identity provider failed"))
    applications = models.IntegerField(_("applications"))

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.business_date} {self.status} {self.reason_code or '-'}: {self.applications:+d}"


class ApplicationDayCount(ApplicationDayCountBase):
    """Applications per key, folded from ApplicationDayDelta (decision 0040)."""

    class Meta:
        verbose_name = _("applications of a day")
        verbose_name_plural = _("applications of a day")
        constraints = [models.UniqueConstraint(fields=["business_date", "status", "reason_code", "provider_failed"],
                                               name="application_day_count_key")]


class ApplicationDayDelta(ApplicationDayCountBase):
    """+1 or -1 applications for a key, appended by the trigger ``application_day_deltas`` on
    every application written; folded into ApplicationDayCount and deleted (decision 0040)."""

    class Meta:
        verbose_name = _("change of the applications of a day")
        verbose_name_plural = _("changes of the applications of a day")
        indexes = [models.Index(fields=["business_date"], name="application_day_delta_date")]
