import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.models import DatabaseOwner
from config.owner import DatabaseNotOurs, claim_database
from config.simulation import SimulationRefused, simulate


class Command(BaseCommand):
    help = ("Simulate a seeded population over business days through the real services, API and nightly close; "
            "ends with a report and the audit_ledger result. Runs only on an empty database (then marked as the "
            "simulation's) or one it filled before, --reset included; refused under the production settings.")

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, required=True, help="how many people apply")
        parser.add_argument("--days", type=int, required=True, help="how many business days to close")
        parser.add_argument("--seed", type=int, default=1, help="random seed (same seed → same report)")
        parser.add_argument("--faults", action="store_true",
                            help="inject gateway timeouts, duplicate task delivery, a killed close, a day closed "
                                 "twice and concurrent API retries with one Idempotency-Key")
        parser.add_argument("--reset", action="store_true",
                            help="first empty the simulation's tables (customers, accounts, ledger, …) of this "
                                 "database; without it the database must have no customers")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    def handle(self, *args, customers, days, seed, faults, reset, no_progress, **options):
        if getattr(settings, "TALLY_ENVIRONMENT", "") == "production":
            raise CommandError("simulate is refused under the production settings.")
        try:
            claim_database(DatabaseOwner.SIMULATE)
        except DatabaseNotOurs as exc:
            raise CommandError(f"simulate refused: {exc}.") from exc
        started = time.monotonic()

        def progress(done: int, total: int, day) -> None:
            width = 30
            filled = width * done // total
            elapsed = time.monotonic() - started
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] day {done}/{total} {day} "
                             f"{elapsed:6.0f}s")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

        try:
            result = simulate(customers=customers, days=days, seed=seed, faults=faults, reset=reset,
                              progress=None if no_progress else progress)
        except SimulationRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(result.report, ending="")
        if faults:
            self.stdout.write("\nFaults injected (and absorbed)")
            for name, n in result.faults.items():
                self.stdout.write(f"  {name:<60} {n:>7}")
        self.stderr.write(f"elapsed: {time.monotonic() - started:.1f}s")
        if result.audit_violations:
            raise SystemExit(1)
