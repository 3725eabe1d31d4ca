import os
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.crypto import get_random_string

from incidents.checks.demo import ensure_check_demo
from incidents.models import Actor, ApiKey, Incident, Monitor, now_seconds

DEMO_MONITORS = [
    ("mon_abc123", "API", "https://api.example.com/health"),
    ("mon_def456", "Database", None),
    ("mon_web001", "Website", "https://www.example.com/"),
    ("mon_cdn001", "CDN", "https://cdn.example.com/"),
    ("mon_mail01", "Email delivery", None),
]


class Command(BaseCommand):
    help = (
        "Load demo monitors, incidents and a maintenance window (once), and with --credentials "
        "print a fresh admin password and demo API key."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--credentials",
            action="store_true",
            help="(re)set the 'admin' user's password and create a new 'demo' API key; print both",
        )

    def handle(self, *args, credentials=False, **options):
        if Monitor.objects.filter(pk="mon_abc123").exists():
            self.stdout.write("Demo data already loaded.")
        else:
            self.load()
            self.stdout.write("Loaded demo data.")
        check_lines = ensure_check_demo()  # checks (issue 14): a live HTTP check, a heartbeat
        if credentials:
            self.print_credentials()
        for line in check_lines:
            self.stdout.write(line)

    @transaction.atomic
    def load(self):
        actor = Actor.system("demo data")
        for monitor_id, name, url in DEMO_MONITORS:
            Monitor.create_monitor(id=monitor_id, name=name, url=url, actor=actor)

        now = now_seconds()
        past = now - timedelta(days=3, hours=5)
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
        Incident.open_incident(
            title="Database upgrade",
            status="monitoring",
            message="Scheduled maintenance window for a database version upgrade.",
            monitor_ids=["mon_abc123", "mon_def456"],
            scheduled_start=tomorrow,
            scheduled_end=tomorrow + timedelta(hours=2),
            actor=actor,
            at=now - timedelta(hours=2),
        )

    def print_credentials(self):
        User = get_user_model()
        password = get_random_string(20)
        user, _created = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        for old in ApiKey.objects.usable().filter(name="demo"):
            old.revoke()
        _key, raw = ApiKey.objects.create_key("demo")
        self.stdout.write("")
        port = os.environ.get("PORT", "8000")
        self.stdout.write(
            f"  Admin:   http://127.0.0.1:{port}/admin/  user admin  password {password}"
        )
        self.stdout.write("  API key: " + raw)
        self.stdout.write("")
