from django.core.management.base import BaseCommand, CommandError

from accounts.errors import ApplicationError
from config.api.clients import api_client_revoke


class Command(BaseCommand):
    help = "Revoke an API service client: every later request with its token gets 401."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--reason", default="", help="why (kept in the audit trail)")

    def handle(self, *args, name: str, reason: str = "", **options):
        try:
            client = api_client_revoke(name=name.strip(), reason=reason or "revoke_api_client")
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"revoked {client.name} at {client.revoked_at:%Y-%m-%d %H:%M:%S%z}")
