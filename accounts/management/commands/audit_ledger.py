from django.core.management.base import BaseCommand

from accounts.ledger_checks import LEDGER_CHECKS, run_all
from accounts.models import CreditAccount, JournalEntry


class Command(BaseCommand):
    help = "Check every ledger invariant (docs/rules.md §11); exit 1 listing violations."

    def handle(self, *args, **options):
        violations, _counts = run_all()
        if violations:
            for line in violations:
                self.stdout.write(line)
            self.stdout.write(f"audit_ledger: {len(violations)} violation(s)")
            raise SystemExit(1)
        self.stdout.write(f"audit_ledger: OK — {len(LEDGER_CHECKS)} checks over {JournalEntry.objects.count()} "
                          f"entries and {CreditAccount.objects.count()} accounts")
