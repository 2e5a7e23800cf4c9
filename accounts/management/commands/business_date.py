from django.core.management.base import BaseCommand

from accounts.business_day import business_date_get


class Command(BaseCommand):
    help = "Print the current business date (YYYY-MM-DD)."

    def handle(self, *args, **options):
        self.stdout.write(business_date_get().isoformat())
