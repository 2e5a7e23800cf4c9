from django.core.management.base import BaseCommand, CommandError

from config.api.clients import api_client_create_or_rotate


class Command(BaseCommand):
    help = "Create (or rotate the token of) an API service client; prints only the token."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name: str, **options):
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("NAME must be 1–100 characters.")
        _client, token = api_client_create_or_rotate(name=name)
        self.stdout.write(token)
