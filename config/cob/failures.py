"""Operations retry a close's failed accounts by hand (docs/rules.md §2, decision 0034): the
selected open failures, each run again for its step and its own business date with the
close's own retry (``runner.retry_failure``), while no close runs (the close's advisory lock
is held meanwhile). One that succeeds is resolved; one that fails again stays open with its new
error. Each retry is audited with its outcome."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.audit_trail import Actor, audit_record, require_staff
from accounts.errors import Conflict, ValidationFailed

from . import runner
from .models import CobFailure

RETRY_FAILURES = "cob.change_cobfailure"


@dataclass(frozen=True)
class RetryOutcome:
    resolved: list[int]
    still_open: list[int]
    skipped: list[int]  # already resolved, or not retryable (no item)


def cob_failures_retry(*, failure_ids: list[int], acting_user: Actor) -> RetryOutcome:
    """Retry the open failures among ``failure_ids``, oldest business date first, in step
    order. Refused while a close runs (``Conflict``, nothing retried)."""
    user = require_staff(acting_user, RETRY_FAILURES, _("You may not retry the close's failures."))
    ids = sorted({int(pk) for pk in failure_ids})
    if not ids:
        raise ValidationFailed(_("Choose the failures to retry."))
    if not runner._try_lock():
        raise Conflict(_("A close of business is running; retry when it has finished."), code="close_running")
    resolved: list[int] = []
    still_open: list[int] = []
    try:
        failures = list(CobFailure.objects.filter(pk__in=ids, resolved_at__isnull=True, item_id__isnull=False)
                        .select_related("step_run__run")
                        .order_by("step_run__run__business_date", "step_run__position", "id"))
        for failure in failures:
            ok = runner.retry_failure(failure)
            (resolved if ok else still_open).append(failure.pk)
            failure.refresh_from_db(fields=["error", "retries", "resolved_at"])
            with transaction.atomic(durable=True):
                audit_record(acting_user=user, action="cob.failure_retried", obj=failure,
                             before={"step": failure.step_run.step, "business_date": str(failure.step_run.run.business_date),
                                     "item": failure.item_id},
                             after={"resolved": ok, "retries": failure.retries,
                                    "error": "" if ok else failure.error.strip().splitlines()[0][:200]},
                             reason="retried by hand")
    finally:
        runner._unlock()
    done = set(resolved) | set(still_open)
    return RetryOutcome(resolved=resolved, still_open=still_open, skipped=[pk for pk in ids if pk not in done])
