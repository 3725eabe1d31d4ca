from django.core.management.base import BaseCommand, CommandError

from incidents.models import ApiKey


class Command(BaseCommand):
    help = (
        "Create an API key. The raw key is printed once, as the last line; only its hash is kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="what the key is for, e.g. deploy-bot")

    def handle(self, *args, name, **options):
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("NAME must be 1 to 100 characters.")
        key, raw = ApiKey.objects.create_key(name)
        self.stdout.write(f"Created API key {key.name!r} ({key.prefix}…). It is shown only once:")
        self.stdout.write(raw)
