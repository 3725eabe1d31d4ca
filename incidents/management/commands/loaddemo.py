"""``manage.py loaddemo``: what ``make run`` sets up on a database, once.

- the demo data (monitors ``mon_abc123`` and ``mon_def456``, so the
  documented curl commands work, a few more, a past and an ongoing incident
  and an upcoming window) is loaded once per database and recorded as loaded
  (with what it made) in the audit trail. It is never loaded again — not
  after the operator deleted some or all of it, nor onto a database that
  already holds monitors or incidents. ``--remove`` deletes what is left of
  it in one step; ``--no-data`` (``make run DEMO=0``) starts empty, and
  the database then stays without it.
- with ``--credentials``, the ``admin`` account and a ``demo`` API key are
  made on the first run and printed then; later runs change neither and say
  how to reset them (``changepassword``, ``createapikey``).
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.crypto import get_random_string

from incidents.checks.demo import check_demo_lines, create_check_demo
from incidents.groups.models import MonitorGroup
from incidents.models import (
    Actor,
    ApiKey,
    AuditRecord,
    Conflict,
    Incident,
    Monitor,
    now_seconds,
)
from incidents.site import page_url
from incidents.uptime.demo import create_uptime_demo

# The page's two sections (issue 17): (id, name, description, position).
DEMO_GROUPS = [
    ("grp_core", "Core services", "What our apps and integrations talk to.", 1),
    ("grp_web", "Website", None, 2),
]
# (id, name, url, group, position in the group, description)
DEMO_MONITORS = [
    ("mon_abc123", "API", "https://api.example.com/health", "grp_core", 1, "The public REST API."),
    ("mon_def456", "Database", None, "grp_core", 2, None),
    ("mon_mail01", "Email delivery", None, "grp_core", 3, "Notifications and receipts."),
    ("mon_web001", "Website", "https://www.example.com/", "grp_web", 1, None),
    ("mon_cdn001", "CDN", "https://cdn.example.com/", "grp_web", 2, "Images, scripts, downloads."),
]
# The checked demo monitors come after the groups, in none.
CHECKED_POSITION = 10

# What this command did to a database, kept in the audit trail under this
# object type: "demo-data" (created: what was loaded; deleted: removed),
# "admin" and "demo-key" (created once).
SETUP = "setup"
MANAGE = ".venv/bin/python manage.py"


def setup_record(name, action=AuditRecord.CREATED):
    return (
        AuditRecord.objects.filter(object_type=SETUP, object_id=name, action=action)
        .order_by("created_at", "id")
        .first()
    )


def record_setup(name, action=AuditRecord.CREATED, **changes):
    return AuditRecord.objects.create(
        action=action, object_type=SETUP, object_id=name, actor="loaddemo", changes=changes
    )


def when(record):
    return record.created_at.strftime("%Y-%m-%d %H:%M UTC")


class Command(BaseCommand):
    help = (
        "Load the demo data once per database (never again, even after it was deleted); "
        "--remove deletes it; --credentials makes the admin account and a demo API key on "
        "the first run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--credentials",
            action="store_true",
            help="make the 'admin' user and a 'demo' API key if this database never had them",
        )
        parser.add_argument(
            "--no-data", action="store_true", help="do not load the demo data (make run DEMO=0)"
        )
        parser.add_argument(
            "--remove", action="store_true", help="delete what is left of the demo data"
        )

    def handle(self, *args, credentials=False, no_data=False, remove=False, **options):
        if remove:
            self.remove()
            return
        if no_data:
            if setup_record("demo-data") is None:
                # Asked to start empty: a later plain `make run` keeps it so.
                record_setup("demo-data", monitors=[], incidents=[], skipped=True)
        else:
            self.load_once()
        if credentials:
            self.stdout.write("")
            self.stdout.write(f"  Status page: {page_url()}/")
            self.admin_account()
            self.demo_key()
            for line in check_demo_lines():
                self.stdout.write(line)
            self.stdout.write("")

    def load_once(self):
        with transaction.atomic():
            loaded = setup_record("demo-data")
            if loaded is None and (Monitor.objects.exists() or Incident.objects.exists()):
                # An operator's page (or one from before this was recorded):
                # never add made-up incidents to it, now or later.
                loaded = record_setup("demo-data", monitors=[], incidents=[], skipped=True)
                self.stdout.write("The database already has monitors or incidents: no demo data.")
                return
            if loaded is None:
                monitors, incidents = self.load()
                groups = [group_id for group_id, *_rest in DEMO_GROUPS]
                record_setup("demo-data", monitors=monitors, incidents=incidents, groups=groups)
                self.stdout.write(
                    "Loaded demo data (monitors, incidents, a maintenance window). "
                    f"Remove it with: {MANAGE} loaddemo --remove"
                )
                return
        removed = setup_record("demo-data", AuditRecord.DELETED)
        if removed is not None:
            self.stdout.write(f"Demo data was removed on {when(removed)}; not loaded again.")
        elif not loaded.changes.get("skipped"):
            self.stdout.write(
                f"Demo data was loaded on {when(loaded)}; not loaded again "
                f"(remove it with: {MANAGE} loaddemo --remove)."
            )

    def remove(self):
        loaded = setup_record("demo-data")
        if loaded is None or loaded.changes.get("skipped"):
            self.stdout.write("No demo data was loaded into this database.")
            return
        actor = Actor.system("loaddemo --remove")
        removed_incidents = removed_monitors = 0
        kept = []
        with transaction.atomic():
            for incident in Incident.objects.filter(pk__in=loaded.changes["incidents"]):
                incident.delete_with_audit(actor)
                removed_incidents += 1
            for monitor in Monitor.objects.filter(pk__in=loaded.changes["monitors"]):
                try:
                    monitor.delete_with_audit(actor)
                    removed_monitors += 1
                except Conflict:
                    kept.append(monitor.id)  # an incident of the operator's names it
            # Groups keep monitors the operator put in them (or kept ones).
            for group in MonitorGroup.objects.filter(pk__in=loaded.changes.get("groups", [])):
                if not group.monitors.exists():
                    group.delete_with_audit(actor)
            if setup_record("demo-data", AuditRecord.DELETED) is None:
                record_setup("demo-data", AuditRecord.DELETED, kept=kept)
        self.stdout.write(
            f"Removed the demo data: {removed_monitors} monitors, {removed_incidents} incidents."
        )
        if kept:
            self.stdout.write(
                "Kept monitors that unresolved incidents of yours name: " + ", ".join(kept)
            )

    def admin_account(self):
        User = get_user_model()
        admin_url = f"{page_url()}/admin/"
        user = User.objects.filter(username="admin").first()
        if user is None and setup_record("admin") is None:
            password = get_random_string(20)
            User.objects.create_superuser("admin", password=password)
            record_setup("admin")
            self.stdout.write(f"  Admin:       {admin_url}  user admin  password {password}")
            self.stdout.write("               (shown once; change it in the admin or with")
            self.stdout.write(f"               {MANAGE} changepassword admin)")
        elif user is not None:
            self.stdout.write(f"  Admin:       {admin_url}  user admin, password as you set it")
            self.stdout.write(f"               (forgotten? {MANAGE} changepassword admin)")
        else:
            self.stdout.write(f"  Admin:       {admin_url}")
            self.stdout.write(f"               (no 'admin' user: {MANAGE} createsuperuser)")

    def demo_key(self):
        made = setup_record("demo-key")
        if made is None:
            key, raw = ApiKey.objects.create_key("demo")
            record_setup("demo-key", prefix=key.prefix)
            self.stdout.write(f"  API key:     {raw}")
            self.stdout.write("               (shown once; only its hash is kept)")
            return
        key = ApiKey.objects.filter(prefix=made.changes.get("prefix"), name="demo").first()
        state = "revoked" if key is None or key.is_revoked else "as printed on the first run"
        self.stdout.write(f"  API key:     the demo key {made.changes.get('prefix')}…, {state}")
        self.stdout.write(f"               (another: {MANAGE} createapikey NAME)")

    def load(self):
        """Make the demo objects; returns their ids."""
        actor = Actor.system("demo data")
        for group_id, name, description, position in DEMO_GROUPS:
            MonitorGroup.create_group(
                id=group_id, name=name, description=description, position=position, actor=actor
            )
        for monitor_id, name, url, group_id, position, description in DEMO_MONITORS:
            Monitor.create_monitor(
                id=monitor_id,
                name=name,
                url=url,
                group_id=group_id,
                position=position,
                description=description,
                actor=actor,
            )

        now = now_seconds()
        past = now - timedelta(days=3, hours=5)
        # 90 days of history for the uptime bars (the API was down during
        # the past incident below).
        history = create_uptime_demo(actor, now, past - timedelta(minutes=2), 70)
        incident = Incident.open_incident(
            title="Elevated error rates on the API",
            message="We are investigating elevated error rates on API requests.",
            monitor_ids=["mon_abc123"],
            actor=actor,
            at=past,
        )
        incident.post_update(
            "identified",
            "Root cause identified as a database connection pool issue.",
            actor=actor,
            at=past + timedelta(minutes=15),
        )
        incident.post_update(
            "monitoring",
            "A fix has been deployed; we are monitoring the results.",
            actor=actor,
            at=past + timedelta(minutes=40),
        )
        incident.resolve(
            "The issue has been resolved. All services are operating normally.",
            actor=actor,
            at=past + timedelta(hours=1, minutes=10),
        )

        Monitor.objects.get(pk="mon_web001").report_status(Monitor.DEGRADED, actor=actor)
        ongoing = Incident.open_incident(
            title="Slow page loads on the website",
            message="Some visitors see slow page loads. We are investigating.",
            monitor_ids=["mon_web001"],
            actor=actor,
            at=now - timedelta(minutes=25),
        )
        ongoing.post_update(
            "identified",
            "A misbehaving cache node has been identified and is being replaced.",
            actor=actor,
            at=now - timedelta(minutes=10),
        )

        tomorrow = (now + timedelta(days=1)).replace(hour=2, minute=0, second=0)
        window = Incident.open_incident(
            title="Database upgrade",
            message="Scheduled maintenance window for a database version upgrade.",
            monitor_ids=["mon_abc123", "mon_def456"],
            scheduled_start=tomorrow,
            scheduled_end=tomorrow + timedelta(hours=2),
            actor=actor,
            at=now - timedelta(hours=2),
        )
        checked = create_check_demo(actor)  # a live HTTP check and a heartbeat
        for monitor in Monitor.objects.filter(pk__in=checked):
            monitor.change(position=CHECKED_POSITION, actor=actor)
        return [monitor_id for monitor_id, *_rest in DEMO_MONITORS] + checked, [
            incident.id,
            ongoing.id,
            window.id,
            *history,
        ]
