"""Beat schedules, defined in code. ``manage.py install_schedules`` writes them into
django-celery-beat's tables idempotently (run at start-up by ``make run`` / the Procfile);
operations staff may then disable or re-time them in the admin without a deploy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    every_seconds: int | None = None
    crontab: str | None = None  # "minute hour day_of_month month_of_year day_of_week"
    description: str = ""


SCHEDULES: tuple[Schedule, ...] = (
    Schedule(
        name="risk: retry identity checks",
        task="risk.tasks.retry_pending_applications",
        every_seconds=60,
        description="Re-runs the identity check of applications in pending_retry whose time has come.",
    ),
    Schedule(
        name="risk: expire idle review claims",
        task="risk.tasks.expire_idle_review_claims",
        every_seconds=300,
        description="Returns review cases claimed but idle for 30 minutes to the queue.",
    ),
    Schedule(
        name="accounts: deliver pending notifications",
        task="accounts.tasks.deliver_pending_notifications",
        every_seconds=60,
        description="Sweeps the notification outbox for anything not yet handed to a worker.",
    ),
    Schedule(
        name="cob: close business days",
        task="config.cob.tasks.close_business_days",
        crontab="30 0 * * *",
        description="Closes every business date earlier than today (00:30 Asia/Shanghai), catching up missed days.",
    ),
    Schedule(
        name="cob: catch-up check",
        task="config.cob.tasks.close_business_days",
        every_seconds=3600,
        description="Hourly safety net: a missed or failed night is caught up without waiting a day.",
    ),
    Schedule(
        name="repayments: release restoration holds",
        task="installments.tasks.release_restoration_holds",
        every_seconds=300,
        description="Gives back available limit held after repayments once the hold's time has come.",
    ),
    Schedule(
        name="repayments: reconcile unknown payments",
        task="installments.tasks.reconcile_payments",
        every_seconds=900,
        description="Asks the gateway about every payment attempt and payout whose outcome is unknown, so a "
                    "charge the gateway took restores the limit within 15 minutes, not at the next close.",
    ),
    Schedule(
        name="risk: fold the applications of each day",
        task="risk.tasks.fold_application_day_counts",
        every_seconds=300,
        description="Moves the per-day application changes the database appends into the per-day counts the "
                    "charts read (the charts are exact either way; this keeps their read small).",
    ),
    Schedule(
        name="risk: sweep applications stuck in received",
        task="risk.tasks.sweep_stuck_applications",
        every_seconds=300,
        description="Moves applications left in received for over 10 minutes (a worker died mid-way, an "
                    "unexpected identity-check error) to pending_retry.",
    ),
    Schedule(
        name="complaints: escalate breaches, auto-close, move closure requests",
        task="complaints.tasks.sweep_complaints_and_closures",
        every_seconds=300,
        description="Escalates missed complaint deadlines, closes complaints resolved 7 days ago and moves "
                    "closure requests whose balance is paid (or whose 30 days ran out).",
    ),
    Schedule(
        name="api: purge expired idempotency keys",
        task="config.api.tasks.purge_idempotency_records",
        crontab="15 3 * * *",
        description="Deletes stored idempotent responses older than the retention window.",
    ),
)
