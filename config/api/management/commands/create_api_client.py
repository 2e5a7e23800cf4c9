from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.errors import ApplicationError
from config.api.clients import api_client_create_or_rotate, parse_scopes
from config.api.models import SCOPES


class Command(BaseCommand):
    help = ("Create (or rotate the token of) an API service client; prints only the token. "
            f"Scopes: {', '.join(SCOPES)} (default for a new client: all; a rotation keeps the client's).")

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--scopes", help="comma-separated scopes, e.g. purchases,refunds,read")
        parser.add_argument("--expires", help="YYYY-MM-DD: the token stops working at the start of that day")
        parser.add_argument("--rate", type=int, help="requests per minute (default: API_DEFAULT_RATE_PER_MINUTE)")
        parser.add_argument("--reactivate", action="store_true", help="give a revoked client a new token")

    def handle(self, *args, name: str, scopes=None, expires=None, rate=None, reactivate=False, **options):
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("NAME must be 1–100 characters.")
        expires_at = None
        if expires:
            try:
                expires_at = timezone.make_aware(datetime.combine(datetime.strptime(expires, "%Y-%m-%d").date(), time()))
            except ValueError as exc:
                raise CommandError("--expires must be a date YYYY-MM-DD") from exc
        if rate is not None and rate < 1:
            raise CommandError("--rate must be at least 1")
        try:
            _client, token = api_client_create_or_rotate(
                name=name, scopes=parse_scopes(scopes) if scopes is not None else None, expires_at=expires_at,
                rate_per_minute=rate, reactivate=reactivate)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(token)
