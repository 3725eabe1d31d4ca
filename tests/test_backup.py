"""Backups restore: a dump loads into an empty database with every incident, update,
maintenance window, monitor, audit record and the page settings (logo included) intact
(docs/operations.md "Backup and restore")."""

import json
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection

from tests import servers

pytestmark = pytest.mark.slow

# What docs/operations.md tells operators to run.
DUMP_OPTIONS = {
    "natural_foreign": True,
    "natural_primary": True,
    "exclude": ["contenttypes", "auth.permission", "sessions"],
}


def state():
    """Everything a restore must bring back, as plain JSON-able data."""
    from incidents.appearance.models import PageSettings
    from incidents.models import ApiKey, AuditRecord, Incident, Monitor

    return {
        "incidents": [i.to_dict() for i in Incident.objects.with_timeline().order_by("id")],
        "monitors": [m.to_dict() for m in Monitor.objects.with_maintenance().order_by("id")],
        "audit": [
            [r.action, r.object_type, r.object_id, r.actor, r.changes, r.snapshot]
            for r in AuditRecord.objects.order_by("created_at", "id")
        ],
        "keys": [
            list(k) for k in ApiKey.objects.order_by("prefix").values_list("prefix", "key_hash")
        ],
        # The page settings, their uploaded logo's bytes included.
        "page": [
            [p.name, p.accent_colour, p.about, p.logo_type, bytes(p.logo or b"").hex()]
            for p in PageSettings.objects.all()
        ],
    }


def populate(make_monitor, make_incident):
    api = make_monitor(name="API", id="mon_api", url="https://api.example.com/health")
    web = make_monitor(name="Website — café ☕", id="mon_web")
    outage = make_incident(
        title="Elevated errors",
        message="We are <b>looking</b> into it.",
        monitor_ids=[web.id, api.id],
    )
    outage.post_update(status="identified", message="Found it: a bad deploy.\nRolling back.")
    outage.resolve(message="All good.")
    make_incident(title="Still open", message="", monitor_ids=[api.id])
    make_incident(
        title="Database upgrade",
        message="Planned.",
        scheduled_start=datetime(2030, 1, 1, 2, tzinfo=UTC),
        scheduled_end=datetime(2030, 1, 1, 4, tzinfo=UTC),
        monitor_ids=[api.id],
    )
    make_incident(title="Posted by mistake", message="oops").delete_with_audit()
    from incidents.models import ApiKey

    ApiKey.objects.create_key("deploy bot")
    from incidents.appearance.models import PageSettings

    page = PageSettings.objects.get_solo()
    page.name, page.accent_colour, page.about = "Acme", "#6b2fa3", "About *us*."
    page.set_logo(b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>')
    page.save()
    before = state()
    assert before["page"][0][3] == "image/svg+xml"
    assert len(before["incidents"]) == 3
    assert sum(len(i["updates"]) for i in before["incidents"]) == 5
    return before


def state_in(database_url):
    """``state()`` read by a separate process from another database."""
    result = manage(
        database_url,
        "shell",
        "-c",
        "import json, tests.test_backup as t; print(json.dumps(t.state()))",
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def manage(database_url, *args):
    # Without REDIS_URL: the restored copy must not touch the shared cache.
    env = servers.environment(DATABASE_URL=database_url, SECRET_KEY=servers.secret_key())
    return servers.manage(env, *args)


@pytest.fixture
def empty_database(tmp_path):
    """The URL of a new, empty database of the same kind as the test database."""
    with servers.empty_database(connection, tmp_path, "restore") as url:
        yield url


def test_a_dumpdata_backup_restores_into_an_empty_database(
    db, tmp_path, empty_database, make_monitor, make_incident
):
    before = populate(make_monitor, make_incident)
    backup = tmp_path / "backup.json"
    call_command("dumpdata", output=str(backup), verbosity=0, **DUMP_OPTIONS)

    manage(empty_database, "migrate", "--noinput", "--verbosity", "0")
    manage(empty_database, "loaddata", str(backup))

    after = state_in(empty_database)
    assert after == before
    # Spot checks a reader would make by eye.
    resolved = next(i for i in after["incidents"] if i["title"] == "Elevated errors")
    assert [u["status"] for u in resolved["updates"]] == ["investigating", "identified", "resolved"]
    assert resolved["updates"][0]["message"] == "We are <b>looking</b> into it."
    assert resolved["monitorIds"] == ["mon_web", "mon_api"]
    deleted = [a for a in after["audit"] if a[0] == "deleted"]
    assert deleted[0][5]["title"] == "Posted by mistake"


def test_a_pg_dump_backup_restores_into_an_empty_database(
    transactional_db, tmp_path, empty_database, make_monitor, make_incident
):
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump is for PostgreSQL")
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump/pg_restore are not installed")
    before = populate(make_monitor, make_incident)
    backup = tmp_path / "backup.dump"
    source = servers.database_url_like(connection, connection.settings_dict["NAME"])
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", f"--file={backup}", "--dbname", source],
        check=True,
        timeout=120,
    )
    subprocess.run(
        ["pg_restore", "--no-owner", "--exit-on-error", "--dbname", empty_database, str(backup)],
        check=True,
        timeout=120,
    )
    assert state_in(empty_database) == before


def test_a_sqlite_online_backup_is_a_complete_copy(tmp_path):
    """``sqlite3 db.sqlite3 ".backup backup.sqlite3"`` of a live database (WAL mode)."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    if shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 shell is not installed")
    live = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    manage(live, "migrate", "--noinput", "--verbosity", "0")
    manage(live, "loaddemo")
    before = state_in(live)
    assert before["incidents"]
    subprocess.run(
        ["sqlite3", str(tmp_path / "live.sqlite3"), f".backup '{tmp_path / 'copy.sqlite3'}'"],
        check=True,
        timeout=60,
    )
    assert state_in(f"sqlite:///{tmp_path / 'copy.sqlite3'}") == before
