"""Alerts are a Django app of their own (``incidents.alerts``, label ``alerts``)
and the domain knows nothing of them: import order does not matter, the domain
runs without them, and moving the models changed no data."""

import json
import subprocess

import pytest
from django.db import connection

from tests import servers

pytestmark = pytest.mark.slow


def run_python(code, **env):
    """Run ``code`` in a fresh interpreter with the project's settings."""
    result = subprocess.run(
        [servers.PYTHON, "-c", code],
        cwd=servers.ROOT,
        env=servers.environment(
            drop=("DATABASE_", "REDIS_"),
            DJANGO_SETTINGS_MODULE="statuspage.settings",
            SECRET_KEY=servers.secret_key(),
            DEBUG="0",
            **env,
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_alerts_models_load_first_in_a_fresh_interpreter():
    # The alerts app before the incidents app: its models are imported first,
    # and they import the domain (never the other way round).
    found = run_python(
        "import json, sys\n"
        "import django\n"
        "from django.conf import settings\n"
        "names = [a for a in settings.INSTALLED_APPS if a != 'incidents.alerts']\n"
        "at = names.index('incidents')\n"
        "settings.INSTALLED_APPS = [*names[:at], 'incidents.alerts', *names[at:]]\n"
        "django.setup()\n"
        "import incidents.alerts.models as alerts\n"
        "from incidents.models import Incident, Monitor, MonitorStatusChange\n"
        "fields = {f: alerts.Alert._meta.get_field(f).related_model.__name__\n"
        "          for f in ('monitor', 'transition', 'window')}\n"
        "print(json.dumps({'label': alerts.Alert._meta.app_label,\n"
        "                  'table': alerts.Alert._meta.db_table, 'fields': fields}))\n",
        DATABASE_URL="sqlite://:memory:",
    )
    assert found == {
        "label": "alerts",
        "table": "incidents_alert",
        "fields": {"monitor": "Monitor", "transition": "MonitorStatusChange", "window": "Incident"},
    }


def test_the_domain_runs_without_the_alerts_app():
    """Without the alerts app (and the admin, which shows alerts), the domain
    loads without importing it and records a transition: nothing in it
    depends on alerts. (The migrations of the incidents app, written while
    alerts were part of it, still name their defaults: looked at before.)"""
    found = run_python(
        "import json, sys\n"
        "import django\n"
        "from django.conf import settings\n"
        "faces = ('incidents.alerts', 'incidents.admin_site.OperatorsAdminConfig')\n"
        "settings.INSTALLED_APPS = [a for a in settings.INSTALLED_APPS if a not in faces]\n"
        "django.setup()\n"
        "from incidents.models import Monitor, MonitorStatusChange\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('incidents.alerts'))\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0)\n"
        "monitor = Monitor.create_monitor(name='API', id='mon_api')\n"
        "monitor.change(status='down')\n"
        "print(json.dumps({\n"
        "    'loaded': loaded,\n"
        "    'transitions': [[t.from_status, t.to_status]\n"
        "                    for t in MonitorStatusChange.objects.all()],\n"
        "}))\n",
        DATABASE_URL="sqlite://:memory:",
    )
    assert found == {"loaded": [], "transitions": [["operational", "down"]]}


MOVE = """
import json
from datetime import UTC, datetime

from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = ("incidents", "0006_checks")  # the last state with alerts in the incidents app
call_command("migrate", *BEFORE, verbosity=0)
old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
Monitor, Incident = old.get_model("incidents", "Monitor"), old.get_model("incidents", "Incident")
Channel, Alert = old.get_model("incidents", "AlertChannel"), old.get_model("incidents", "Alert")
Attempt = old.get_model("incidents", "AlertAttempt")
WindowEnd = old.get_model("incidents", "WindowEnd")
Group, Permission = old.get_model("auth", "Group"), old.get_model("auth", "Permission")
at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
monitor = Monitor.objects.create(id="mon_moved", name="Moved", status="down")
window = Incident.objects.create(id="inc_moved", title="Window")
channel = Channel.objects.create(name="Ops", kind="email", email="ops@example.com")
alert = Alert.objects.create(
    id="alr_moved", kind="down", monitor=monitor, monitor_ref=monitor.pk, monitor_name="Moved",
    to_status="down", occurred_at=at, channel=channel, channel_kind="email", channel_name="Ops",
    target="ops@example.com", window=window, window_ref=window.pk, outcome="failed",
)
Attempt.objects.create(alert=alert, number=1, started_at=at, error="refused")
WindowEnd.objects.create(window=window, ended_at=at, processed_at=at, alert_count=1)
view_alert = Permission.objects.get(content_type__app_label="incidents", codename="view_alert")
Group.objects.create(name="ops").permissions.add(view_alert)

call_command("migrate", verbosity=0)

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from incidents.alerts.models import Alert, AlertAttempt, AlertChannel, WindowEnd
from incidents.models import Monitor

moved = Alert.objects.get(pk="alr_moved")
Monitor.objects.get(pk="mon_moved").change(status="operational")  # a new alert, to Ops
after = {
    "alert": [moved.monitor_id, moved.window_id, moved.channel.name, moved.outcome],
    "attempts": list(AlertAttempt.objects.values_list("alert_id", "number", "error")),
    "window_ends": list(WindowEnd.objects.values_list("window_id", "alert_count")),
    "channels": list(AlertChannel.objects.values_list("name", flat=True)),
    "new": list(Alert.objects.exclude(pk="alr_moved").values_list("kind", "channel_name")),
    "group": sorted(
        f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get().permissions.all()
    ),
    "view_alert_permissions": Permission.objects.filter(codename="view_alert").count(),
    "content_types": sorted(
        ContentType.objects.filter(model__in=["alert", "alertchannel", "alertattempt", "windowend"])
        .values_list("app_label", flat=True)
    ),
}

call_command("migrate", *BEFORE, verbosity=0)  # and back: the tables stay as they are
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM incidents_alert")
    after["back"] = [
        cursor.fetchone()[0],
        sorted(ContentType.objects.filter(model="alert").values_list("app_label", flat=True)),
    ]
print(json.dumps(after))
"""


def test_a_database_with_alerts_keeps_them_when_they_move_to_their_app(tmp_path):
    with servers.empty_database(connection, tmp_path, "alerts_move") as url:
        env = servers.environment(
            drop=("DATABASE_", "REDIS_", "ALERT_"),
            DATABASE_URL=url,
            SECRET_KEY=servers.secret_key(),
            DEBUG="0",
            ALERT_EMAILS="",
            ALERT_WEBHOOK_URL="",
        )
        result = servers.manage(env, "shell", "-c", MOVE)
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {
        "alert": ["mon_moved", "inc_moved", "Ops", "failed"],
        "attempts": [["alr_moved", 1, "refused"]],
        "window_ends": [["inc_moved", 1]],
        "channels": ["Ops"],
        "new": [["recovered", "Ops"]],
        # The operators' permissions moved with the models: none to grant again.
        "group": ["alerts.view_alert"],
        "view_alert_permissions": 1,
        "content_types": ["alerts", "alerts", "alerts", "alerts"],
        "back": [2, ["incidents"]],
    }


def test_the_old_admin_addresses_lead_to_the_new_ones(admin_client):
    failed = "?outcome__exact=failed"
    for old, new in [
        ("/admin/incidents/alert/", "/admin/alerts/alert/"),
        (f"/admin/incidents/alert/{failed}", f"/admin/alerts/alert/{failed}"),
        ("/admin/incidents/alertchannel/add/", "/admin/alerts/alertchannel/add/"),
    ]:
        response = admin_client.get(old)
        assert (response.status_code, response["Location"]) == (301, new)
        assert admin_client.get(new).status_code == 200
