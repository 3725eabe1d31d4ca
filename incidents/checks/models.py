"""Checks: what a monitor watches by itself, and what each run found.

- ``Check``: one row per checked monitor — its settings (see
  ``definition.SETTINGS``), its schedule (``next_run_at``, and
  ``running_until`` while a worker runs it), the confirmation streaks, and the
  last result; a heartbeat's ping token and deadline.
- ``CheckResult``: every run (and every ping that changed something), kept
  ``CHECK_RESULTS_DAYS`` days;
- ``CheckHourly``: what older results are folded into — count, failures,
  latency p50/p95 per monitor and hour — kept a year.

Results move the monitor through ``Monitor.report_status``: the one rule for
transitions, alerts and window suppression.
"""

import secrets
from datetime import timedelta

from django.db import connections, models
from django.utils import timezone

from incidents.cache.generation import NotShownOnPage
from incidents.checks import definition
from incidents.checks.definition import HEARTBEAT, HTTP, TCP
from incidents.models.common import Actor, isostring
from incidents.models.monitors import Monitor
from incidents.site import page_url

CHECK_ACTOR = Actor.system("check")
PING_TOKEN_BYTES = 24


def new_ping_token():
    return secrets.token_urlsafe(PING_TOKEN_BYTES)


def ping_url(token):
    return f"{page_url()}/ping/{token}"


def human_seconds(seconds):
    """``90`` → "1 min 30 s", ``90000`` → "1 d 1 h": durations in messages."""
    parts = []
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "min"), (1, "s")):
        if seconds >= size:
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
    return " ".join(parts[:2]) or "0 s"


class CheckQuerySet(models.QuerySet):
    def scheduled(self):
        """Checks the worker runs on a schedule (heartbeats wait for pings)."""
        return self.filter(type__in=(HTTP, TCP))

    def due(self, now, ahead=timedelta(0)):
        """Scheduled checks due by ``now + ahead`` and not running."""
        return (
            self.scheduled()
            .filter(next_run_at__lte=now + ahead)
            .filter(models.Q(running_until__isnull=True) | models.Q(running_until__lt=now))
        )

    def for_ping(self, token):
        """The heartbeat with this ping token (with ``monitor_status``), or None.

        Every ping pays for this lookup, and building it through the ORM costs
        more than running it: one indexed join spelled out (the token is a
        bound parameter), as ``ApiKey.objects.authenticate`` does."""
        quote = connections[self.db].ops.quote_name
        checks, monitors = quote(Check._meta.db_table), quote(Monitor._meta.db_table)
        sql = (
            f"SELECT c.monitor_id, c.period, c.grace, c.last_ping_at, m.status AS monitor_status "  # noqa: S608
            f"FROM {checks} c INNER JOIN {monitors} m ON m.id = c.monitor_id "
            f"WHERE c.ping_token = %s"
        )
        return next(iter(self.raw(sql, [token])), None)

    def update_rows(self, rows, fields, condition=""):
        """``UPDATE … SET fields WHERE pk = … [AND condition]`` for each row, with
        one prepared statement: what a batch of results or claims writes. Django's
        ``bulk_update`` builds a CASE per field and row, which costs more than the
        writes themselves. Returns each row's count of updated rows."""
        connection = connections[self.db]
        quote = connection.ops.quote_name
        columns = [Check._meta.get_field(name) for name in fields]
        assignments = ", ".join(f"{quote(column.column)} = %s" for column in columns)
        sql = (
            f"UPDATE {quote(Check._meta.db_table)} SET {assignments} "  # noqa: S608
            f"WHERE {quote('monitor_id')} = %s{condition}"
        )
        counts = []
        with connection.cursor() as cursor:
            for row, extra in rows:
                values = [column.get_db_prep_save(getattr(row, column.attname), connection)
                          for column in columns]  # fmt: skip
                cursor.execute(sql, [*values, row.pk, *extra])
                counts.append(cursor.rowcount)
        return counts

    def overdue_heartbeats(self, now):
        return self.filter(type=HEARTBEAT, deadline_at__lte=now)

    def next_moment(self):
        """The earliest scheduled run or heartbeat deadline, or None."""
        found = self.aggregate(run=models.Min("next_run_at"), deadline=models.Min("deadline_at"))
        moments = [moment for moment in found.values() if moment is not None]
        return min(moments) if moments else None


class Check(NotShownOnPage, models.Model):
    STREAK_CHOICES = Monitor.STATUS_CHOICES

    monitor = models.OneToOneField(
        Monitor, primary_key=True, on_delete=models.CASCADE, related_name="health_check"
    )
    type = models.CharField(max_length=20, choices=[(t, t) for t in definition.TYPES])
    # http
    url = models.CharField(max_length=definition.URL_MAX_LENGTH, blank=True, default="")
    method = models.CharField(max_length=10, blank=True, default="GET")
    expected_status = models.JSONField(null=True, blank=True)
    keyword = models.CharField(  # noqa: DJ001 (the API's null: no keyword)
        max_length=definition.KEYWORD_MAX_LENGTH, null=True, blank=True
    )
    keyword_absent = models.BooleanField(default=False)
    degraded_above_ms = models.PositiveIntegerField(null=True, blank=True)
    certificate_expiry_days = models.PositiveIntegerField(null=True, blank=True, default=14)
    # tcp
    host = models.CharField(max_length=definition.HOST_MAX_LENGTH, blank=True, default="")
    port = models.PositiveIntegerField(null=True, blank=True)
    # http and tcp
    interval = models.PositiveIntegerField(default=60)
    timeout = models.PositiveIntegerField(default=10)
    failures_before_down = models.PositiveSmallIntegerField(default=2)
    successes_before_up = models.PositiveSmallIntegerField(default=1)
    # heartbeat
    period = models.PositiveIntegerField(null=True, blank=True)
    grace = models.PositiveIntegerField(null=True, blank=True)
    ping_token = models.CharField(max_length=64, null=True, blank=True, unique=True)  # noqa: DJ001
    last_ping_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    # schedule
    next_run_at = models.DateTimeField(null=True, blank=True)
    running_until = models.DateTimeField(null=True, blank=True)
    # confirmation: the state of the latest results in a row, how many, and
    # how many results in a row were not failures
    streak_state = models.CharField(max_length=20, blank=True, default="")
    streak_count = models.PositiveIntegerField(default=0)
    successes = models.PositiveIntegerField(default=0)
    # the last result
    last_checked_at = models.DateTimeField(null=True, blank=True)
    response_time_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField(default=timezone.now)

    objects = CheckQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["next_run_at"], name="check_next_run"),
            models.Index(fields=["deadline_at"], name="check_deadline"),
        ]

    def __str__(self):
        return f"{self.type} check of {self.monitor_id}"

    @property
    def target(self):
        """Where it looks, for the admin (never shown on public pages)."""
        if self.type == HTTP:
            return self.url
        if self.type == TCP:
            return f"{self.host}:{self.port}"
        return "pings"

    @property
    def ping_url(self):
        return ping_url(self.ping_token) if self.ping_token else None

    def to_dict(self):
        """The API's check object: every setting of its type, in declared order."""
        body = {"type": self.type}
        for setting in definition.settings_for(self.type):
            if setting.name != "type":
                body[setting.name] = getattr(self, setting.attribute)
        if self.type == HEARTBEAT:
            body["pingUrl"] = self.ping_url
        return body

    def result_fields(self):
        """``lastCheckedAt``, ``responseTimeMs``, ``lastError`` for the monitor's dict."""
        return {
            "lastCheckedAt": isostring(self.last_checked_at),
            "responseTimeMs": self.response_time_ms,
            "lastError": self.last_error,
        }

    # -- writing (inside the monitor's transaction) --

    @classmethod
    def apply(cls, monitor, check, now=None):
        """Give ``monitor`` the check ``check`` (a CheckDefinition), or remove
        it (None). A replaced heartbeat keeps its ping URL; a new schedule
        starts now. Returns the new dict for the audit trail."""
        now = now or timezone.now()
        existing = cls.objects.select_for_update().filter(monitor=monitor).first()
        if check is None:
            if existing is not None:
                existing.delete()
            return None
        kept_token = existing.ping_token if existing is not None else None
        last_ping = existing.last_ping_at if existing is not None else None
        if existing is not None:
            existing.delete()
        row = cls(monitor=monitor, type=check.type, created_at=now)
        for name, value in check.values.items():
            setattr(row, name, value)
        if check.type == HEARTBEAT:
            row.ping_token = kept_token or new_ping_token()
            row.last_ping_at = last_ping
            row.last_checked_at = last_ping
            row.deadline_at = (last_ping or now) + timedelta(seconds=row.period + row.grace)
        else:
            row.next_run_at = now
        row.save(force_insert=True)
        monitor._state.fields_cache.pop("health_check", None)
        return row.to_dict()


def check_fields(check):
    """The monitor's dict's check fields, in the contract's order."""
    if check is None:
        return {"check": None, "lastCheckedAt": None, "responseTimeMs": None, "lastError": None}
    return {"check": check.to_dict(), **check.result_fields()}


class CheckResult(NotShownOnPage, models.Model):
    """One run of a check (or a ping that changed something)."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="check_results")
    checked_at = models.DateTimeField()
    scheduled_for = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Monitor.STATUS_CHOICES)
    response_time_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, null=True, blank=True)  # noqa: DJ001

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [
            models.Index(fields=["monitor", "-checked_at", "-id"], name="result_by_monitor"),
            models.Index(fields=["checked_at"], name="result_by_time"),
        ]

    def __str__(self):
        return f"{self.monitor_id} {self.status} at {isostring(self.checked_at)}"

    def to_dict(self):
        return {
            "checkedAt": isostring(self.checked_at),
            "status": self.status,
            "responseTimeMs": self.response_time_ms,
            "error": self.error,
        }


class CheckHourly(NotShownOnPage, models.Model):
    """Results older than ``CHECK_RESULTS_DAYS``, folded per monitor and hour."""

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="check_hours")
    hour = models.DateTimeField()
    count = models.PositiveIntegerField()
    failures = models.PositiveIntegerField()
    p50_ms = models.PositiveIntegerField(null=True, blank=True)
    p95_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-hour"]
        constraints = [models.UniqueConstraint(fields=["monitor", "hour"], name="check_hour_once")]
        indexes = [models.Index(fields=["hour"], name="check_hour_by_time")]

    def __str__(self):
        return f"{self.monitor_id} {isostring(self.hour)}: {self.count} ({self.failures} failed)"
