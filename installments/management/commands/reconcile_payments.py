"""``manage.py reconcile_payments``: ask the gateway now about every payment attempt and payout
whose outcome is unknown — the code the 15-minute beat job runs; one line per item."""

from django.core.management.base import BaseCommand

from installments.services.reconciliation import payments_reconcile


class Command(BaseCommand):
    help = ("Ask the payment gateway now about every payment attempt and payout whose outcome is unknown, and "
            "settle them (what the 15-minute beat job runs). Prints one line per attempt or payout.")

    def handle(self, *args, **options):
        rows = payments_reconcile()
        for row in rows:
            self.stdout.write(f"{row.kind} {row.id} {row.key}: {row.before} -> {row.after}")
        self.stdout.write(f"{len(rows)} reconciled" if rows else "nothing to reconcile")
