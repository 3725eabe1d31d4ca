from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # The default shared cache (no REDIS_URL) lives in the database; make its
    # table part of migrating so that tests and fresh installs always have it.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
