from datetime import date, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts import clock
from accounts.business_day import business_date_get
from config.cob.runner import CobAlreadyRunning, close_business_day, summary_line


class Command(BaseCommand):
    help = ("Close the current business day (every nightly step) and advance it; with --until, repeat until "
            "the business date equals that date. One summary line per day closed.")

    def add_arguments(self, parser):
        parser.add_argument("--until", help="YYYY-MM-DD: close day by day until the business date equals it")
        parser.add_argument("--fan-out", action="store_true",
                            help="send account chunks to the Celery workers instead of running them here")
        parser.add_argument("--force", action="store_true",
                            help="close a business date that has not ended yet (today or later on the calendar)")

    def handle(self, *args, until=None, fan_out=False, force=False, **options):
        current = business_date_get()
        if until:
            try:
                target = date.fromisoformat(until)
            except ValueError as exc:
                raise CommandError("--until must be a date YYYY-MM-DD") from exc
            if target < current:
                raise CommandError(f"--until {target} is before the business date {current}")
        else:
            target = None
        today = clock.localdate()
        last_to_close = (target - timedelta(days=1)) if target is not None else current
        if last_to_close >= today and settings.TALLY_CLOSE_REQUIRES_DAY_ENDED and not force:
            raise CommandError(f"{last_to_close} has not ended yet (today is {today}): a business day is closed after "
                               "it ends. Pass --force to close it now anyway.")
        try:
            while True:
                if target is not None and business_date_get() >= target:
                    break
                run = close_business_day(fan_out=fan_out)
                self.stdout.write(summary_line(run))
                if target is None:
                    break
        except CobAlreadyRunning as exc:
            raise CommandError(str(exc)) from exc
