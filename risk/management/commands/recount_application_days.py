"""``manage.py recount_application_days``: count the applications of every business day again
from the applications themselves (risk.day_counts.recount) — after a restore, or a bulk load
that ran with triggers off. Writers of applications wait until it commits."""

from django.core.management.base import BaseCommand

from risk import day_counts


class Command(BaseCommand):
    help = ("Count the applications of every business day again from the applications themselves (what the "
            "charts page reads). Needed only after a restore or a bulk load with triggers off.")

    def handle(self, *args, **options):
        keys = day_counts.recount()
        self.stdout.write(f"{keys} day counts written")
