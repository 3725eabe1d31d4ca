"""`make bench`: load Kamustatus the way an outage does and report it as ratios.

One run measures every backend side by side, each a column of one table:
SQLite, PostgreSQL, and PostgreSQL with Redis as the cache (``--backends``
chooses; a backend whose server does not answer is reported as skipped, not
failed). PostgreSQL is the server DATABASE_URL names, else
postgres://postgres@127.0.0.1:5432/postgres; Redis is REDIS_URL, else
redis://127.0.0.1:6379/5, under a key prefix of this run's own that is deleted
afterwards. ``--worker-class sync,gthread:8`` adds a column per gunicorn
worker class and ``--threads N`` sets gthread's threads (default: what
gunicorn.conf.py says).

Each column is this script again in a process of its own (Django's settings
are per process; ``--column`` is that internal entry point), which:

1. makes a fresh database — a temporary SQLite file, or a new database with a
   unique name on the PostgreSQL server (dropped at the end) — migrates it
   and fills it with bulk inserts (one executemany or COPY per table and
   10,000 incidents, in one transaction);
2. starts gunicorn as in production (DEBUG off, gunicorn.conf.py, 2 workers
   per core, static files collected into a temporary STATIC_ROOT and served
   by whitenoise) on a free loopback port, and creates an API key with
   ``manage.py createapikey``;
3. loads it with wrk from a second process, side by side: a static file (the
   ceiling), the status page, its htmx live part, its conditional GET (304),
   the page in German, an incident permalink, the Statuspage JSON, a badge,
   the API list and detail, the status page during a refresh storm (a Python
   writer PATCHes an incident every 100 ms while a Python checker beside wrk
   asserts that every page it fetches shows the latest committed write), and
   create+resolve write pairs (a wrk Lua script: POST, then PATCH with the
   returned id); then counts the SQL queries of one create, one resolve and
   one unchanged ``/`` in-process;
4. measures the page and the list again at a small and a large size (1,000
   and 100,000 incidents by default) — the database grows in stages, older
   history added behind the newest, so the page itself stays the same — and
   the checks rows (tests/bench/checks.py);
5. the first column of each database also runs the worker's stages: check
   scheduling, subscribers (tests/bench/subscribers.py) and the uptime render
   (tests/bench/uptime.py).

Every row is a ratio to the static file measured in the same stage of the same
column. The parent prints one Markdown table (req/s, × static and p99 per
column), the targets of issue #19 met or missed per column, and writes
bench-results.json.

Endpoints that are missing (404) or broken are reported as such in the table
and skipped; the run itself does not fail on them.

Usage: ``python tests/bench/run.py [--quick] [--backends sqlite,postgres]
[--output FILE] ...`` (``make bench ARGS=--quick``). Only loopback
(127.0.0.1) is ever a target.
"""

import argparse
import http.client
import json
import os
import platform
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

PROFILES = {
    # incidents at each stage, seconds per measured row, seconds of wrk warm-up
    # (besides a few plain requests per worker, always)
    "full": {
        "small": 1_000,
        "main": 10_000,
        "large": 100_000,
        "duration": 10,
        "warmup": 2,
        "check_monitors": 1_000,
        "check_seconds": 60,
    },
    "quick": {
        "small": 100,
        "main": 300,
        "large": 1_000,
        "duration": 2,
        "warmup": 0,
        "check_monitors": 100,
        "check_seconds": 12,
    },
}

STORM_INTERVAL = 0.1  # seconds between the storm writer's PATCHes
STORM_MARK = "Storm update #"
WRITE_TITLE = "Bench write"  # must match write.lua

# The columns: a backend is a database and a cache.
BACKENDS = {
    "sqlite": "SQLite",
    "postgres": "PostgreSQL",
    "postgres+redis": "PostgreSQL + Redis",
}
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"

# Issue #19's targets: row, minimum ratio to the static file on each backend
# (reported, never asserted; a backend left out has no target for that row).
RATIO_TARGETS = {
    "page": {"sqlite": 1.0, "postgres": 0.8, "postgres+redis": 0.8},
    "storm": dict.fromkeys(BACKENDS, 0.3),  # and every checked page fresh
    "api_list": dict.fromkeys(BACKENDS, 0.5),
    "api_detail": dict.fromkeys(BACKENDS, 0.5),
    "incident_page": dict.fromkeys(BACKENDS, 0.5),
    "ping": dict.fromkeys(BACKENDS, 0.3),  # tests/bench/checks.py
}
SCALE_TARGET = 1.2  # small-size req/s ÷ large-size req/s, at most
SECOND_LANGUAGE_TARGET = 0.9  # / in German ÷ / in English, at least
WRITES_TARGET = {"postgres": 300, "postgres+redis": 300}  # create+resolve pairs/s


def log(message):
    column = os.environ.get("BENCH_COLUMN")
    where = f" {column}" if column else ""
    print(f"[bench {time.strftime('%H:%M:%S')}{where}] {message}", file=sys.stderr, flush=True)


# --- the machine ----------------------------------------------------------------


def cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def wrk_version(wrk):
    result = subprocess.run([wrk, "--version"], capture_output=True, text=True)
    first = (result.stdout + result.stderr).splitlines()[0]
    return first.split("[")[0].split("Copyright")[0].strip()


def git_commit():
    def git(*args):
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip()
        except OSError:
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


# --- the database -----------------------------------------------------------------


class FreshDatabase:
    """A database of our own: a SQLite file in ``workdir`` or a new PostgreSQL
    database beside the one DATABASE_URL names, dropped on exit."""

    def __init__(self, configured_url, workdir):
        self.configured_url = configured_url or ""
        self.workdir = workdir
        self.url = None
        self.pg_name = None

    @property
    def is_postgres(self):
        return self.configured_url.startswith(("postgres://", "postgresql://", "pgsql://"))

    def __enter__(self):
        if self.is_postgres:
            import psycopg

            self.pg_name = "kamu_bench_" + secrets.token_hex(6)
            with psycopg.connect(self.admin_url(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_name}"')
            self.url = self._url_for(self.pg_name)
        elif not self.configured_url or self.configured_url.startswith("sqlite"):
            self.url = f"sqlite:///{self.workdir / 'bench.sqlite3'}"
        else:
            raise SystemExit(f"bench: unsupported DATABASE_URL scheme: {self.configured_url}")
        return self

    def admin_url(self):
        """The server's ``postgres`` database, where databases are made and dropped."""
        return self._url_for("postgres")

    def _url_for(self, name):
        parts = urllib.parse.urlsplit(self.configured_url)
        scheme = "postgresql" if parts.scheme in ("postgres", "pgsql") else parts.scheme
        return parts._replace(scheme=scheme, path="/" + name).geturl()

    def __exit__(self, *exc):
        if self.pg_name:
            import psycopg

            try:
                with psycopg.connect(self.admin_url(), autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            except Exception as error:
                log(f"could not drop database {self.pg_name}: {error}")
        return False

    def describe(self):
        from django.db import connection

        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SHOW server_version")
                return f"PostgreSQL {cursor.fetchone()[0].split()[0]}"
            cursor.execute("select sqlite_version()")
            return f"SQLite {cursor.fetchone()[0]} (WAL)"


# --- filling it -------------------------------------------------------------------

SERVICES = ["API", "Website", "Database", "CDN", "Email delivery", "Search", "Payments",
            "Webhooks", "Dashboard", "Authentication"]  # fmt: skip
REGIONS = ["eu-west", "eu-central", "us-east", "us-west", "ap-south"]
TROUBLES = ["Elevated error rates", "Increased latency", "Partial outage",
            "Degraded performance", "Intermittent timeouts"]  # fmt: skip
SPACING = timedelta(hours=1)  # between consecutive incidents, going back in time
ONGOING = 2  # the newest incidents stay unresolved


class FastIds:
    """Ids in ``make_id``'s format (``prefix_`` + ID_LENGTH characters of
    ID_ALPHABET), from a generator seeded by ``secrets``: ``make_id`` draws each
    character with ``secrets.choice`` (~15 µs an id), too slow for the 400,000
    ids of the large size."""

    def __init__(self):
        from incidents.models import ID_ALPHABET, ID_LENGTH, make_id

        self.alphabet, self.length = ID_ALPHABET, ID_LENGTH
        self.rng = random.Random(secrets.randbits(128))
        if len(self("inc")) != len(make_id("inc")):
            raise RuntimeError("bench ids no longer match incidents.models.make_id")

    def __call__(self, prefix):
        return prefix + "_" + "".join(self.rng.choices(self.alphabet, k=self.length))


def insert(model, names, rows):
    """INSERT many rows at once (executemany; COPY on PostgreSQL): ``names`` are model field
    names, each row a tuple of their values; other columns get their default
    (auto_now ones: now). Like bulk_create without building model instances
    or compiling SQL per batch, which dominated the fill time; no signals."""
    from django.db import connection, models
    from django.utils import timezone

    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    others = [
        field
        for field in meta.concrete_fields
        if field.name not in names and not isinstance(field, models.AutoField)
    ]
    now = timezone.now()
    defaults = tuple(
        field.get_db_prep_save(
            now if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
            else field.get_default(),
            connection,
        )
        for field in others
    )  # fmt: skip
    adapt_datetime = connection.ops.adapt_datetimefield_value
    is_datetime = [field.get_internal_type() == "DateTimeField" for field in fields]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields + others)
    placeholders = ", ".join(["%s"] * (len(fields) + len(others)))
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"
    params = [
        tuple(
            adapt_datetime(value) if dt and value is not None else value
            for dt, value in zip(is_datetime, row, strict=True)
        )
        + defaults
        for row in rows
    ]
    if not params:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: several times faster than executemany on PostgreSQL.
            copy_sql = f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN"
            with cursor.cursor.copy(copy_sql) as copy:
                for row in params:
                    copy.write_row(row)
        else:
            cursor.executemany(sql, params)


class Filler:
    """Bulk inserts consistent with the domain rules: an incident's status is
    its last update's, resolvedAt is set exactly when resolved, sequences run
    1..n, maintenance windows are incidents with a schedule."""

    def __init__(self, updates_per_incident, monitor_count, window_count):
        from incidents.models import now_seconds

        self.updates = max(1, updates_per_incident)
        self.monitor_count = monitor_count
        self.window_count = window_count
        self.now = now_seconds()
        self.filled = 0
        self.monitor_ids = []
        self.newest_incident_id = None
        self.make_id = FastIds()

    def fill_to(self, total):
        """Add incidents (older than those already there) up to ``total``."""
        from django.db import connection, transaction

        from incidents.cache import generation

        started = time.monotonic()
        added = total - self.filled
        if connection.vendor == "sqlite":
            # Random primary keys touch pages all over the indexes: keep them
            # in memory rather than spilling to the WAL file over and over.
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA cache_size = -262144")  # KiB: 256 MiB
        with transaction.atomic():  # one transaction: fast on SQLite
            if not self.monitor_ids:
                self._monitors_and_windows()
            chunk = 10_000
            while self.filled < total:
                stop = min(total, self.filled + chunk)
                self._incidents(self.filled, stop)
                self.filled = stop
        generation.bump()  # raw inserts send no signals
        connection.close()  # hold no lock or snapshot while the server runs
        if added > 0:
            log(f"filled to {total:,} incidents (+{added:,}) in {time.monotonic() - started:.1f}s")

    def _monitors_and_windows(self):
        from incidents.models import Incident, Monitor

        monitors = []
        for k in range(self.monitor_count):
            name = f"{SERVICES[k % len(SERVICES)]} ({REGIONS[k // len(SERVICES) % len(REGIONS)]})"
            status = Monitor.DEGRADED if k == 3 else Monitor.OPERATIONAL
            created = self.now - timedelta(days=400) + timedelta(seconds=k)
            monitors.append((self.make_id("mon"), name, status, created))
        insert(Monitor, ["id", "name", "status", "created_at"], monitors)
        self.monitor_ids = [monitor[0] for monitor in monitors]

        incidents, windows, links, updates = [], [], [], []
        for k in range(self.window_count):
            kind = ("past", "active", "upcoming")[k % 3] if k < 3 else ("past", "upcoming")[k % 2]
            if kind == "past":
                start = self.now - timedelta(days=k + 1, hours=2)
            elif kind == "active":
                start = self.now - timedelta(minutes=30)
            else:
                start = self.now + timedelta(days=k + 1)
            end = start + timedelta(hours=2)
            created = min(start, self.now) - timedelta(days=7)
            status = Incident.RESOLVED if kind == "past" else Incident.MONITORING
            incident_id = self.make_id("inc")
            resolved_at = end if kind == "past" else None
            title = f"Planned maintenance {k + 1}"
            incidents.append((incident_id, title, status, start, resolved_at, created))
            windows.append((incident_id, start, end))
            for position in range(2):
                monitor_id = self.monitor_ids[(k * 2 + position) % len(self.monitor_ids)]
                links.append((incident_id, monitor_id, position))
            steps = [(Incident.MONITORING, "Scheduled maintenance window.", created)]
            if kind == "past":
                steps.append((Incident.RESOLVED, "Maintenance completed.", end))
            for sequence, (step_status, message, at) in enumerate(steps, start=1):
                updates.append(
                    (self.make_id("upd"), incident_id, sequence, step_status, message, at)
                )
        self._insert(incidents, windows, links, updates)

    def _incidents(self, start, stop):
        from incidents.models import Incident

        progress = [Incident.INVESTIGATING, Incident.IDENTIFIED, Incident.MONITORING]
        incidents, links, updates = [], [], []
        monitor_count = len(self.monitor_ids)
        for i in range(start, stop):
            began = self.now - (i + 1) * SPACING
            statuses = [progress[min(n, 2)] for n in range(self.updates - 1)]
            statuses.append(Incident.MONITORING if i < ONGOING else Incident.RESOLVED)
            if self.updates == 1:
                statuses = [Incident.INVESTIGATING if i < ONGOING else Incident.RESOLVED]
            times = [began + timedelta(minutes=20 * n) for n in range(len(statuses))]
            first_monitor = (i * 7) % monitor_count
            incident_id = self.make_id("inc")
            title = f"{TROUBLES[i % len(TROUBLES)]} on {SERVICES[first_monitor % len(SERVICES)]}"
            resolved_at = times[-1] if statuses[-1] == Incident.RESOLVED else None
            incidents.append((incident_id, title, statuses[-1], began, resolved_at, began))
            linked = [first_monitor] + ([(first_monitor + 1) % monitor_count] if i % 3 == 0 else [])
            for position, index in enumerate(linked):
                links.append((incident_id, self.monitor_ids[index], position))
            for sequence, (status, at) in enumerate(zip(statuses, times, strict=True), start=1):
                message = (
                    f"{status.capitalize()}: update {sequence} on incident {i} — "
                    "we will post again as we learn more."
                )
                updates.append((self.make_id("upd"), incident_id, sequence, status, message, at))
        if start == 0:
            self.newest_incident_id = incidents[0][0]
        self._insert(incidents, [], links, updates)

    def _insert(self, incidents, windows, links, updates):
        from incidents.models import Incident, IncidentMonitor, IncidentUpdate, MaintenanceWindow

        insert(
            Incident,
            ["id", "title", "status", "started_at", "resolved_at", "created_at"],
            incidents,
        )
        insert(MaintenanceWindow, ["incident", "scheduled_start", "scheduled_end"], windows)
        insert(IncidentMonitor, ["incident", "monitor", "position"], links)
        insert(
            IncidentUpdate,
            ["id", "incident", "sequence", "status", "message", "created_at"],
            updates,
        )


# --- the server -------------------------------------------------------------------


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn as in production (gunicorn.conf.py), on a free loopback port,
    logging to a file; ``worker`` (a WorkerClass) overrides the conf's class."""

    def __init__(self, env, workers, logfile, worker=None):
        self.env = env
        self.workers = workers
        self.logfile = logfile
        self.worker = worker
        self.port = None
        self.process = None

    def start(self, ready_path):
        self.port = free_port()
        command = [sys.executable, "-m", "gunicorn", "statuspage.wsgi"]
        command += ["--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers)]
        if self.worker:
            command += self.worker.gunicorn_flags()
        with open(self.logfile, "ab") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bench: gunicorn exited; see its log:\n{self.log_tail()}")
            try:
                if fetch(self.port, "GET", ready_path)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"bench: gunicorn did not answer within 60 s:\n{self.log_tail()}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_text(self):
        try:
            return Path(self.logfile).read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines=30):
        return "\n".join(self.log_text().splitlines()[-lines:])


class WorkerClass:
    """A gunicorn worker class as ``--worker-class`` names it: ``sync``,
    ``gthread`` (``--threads`` threads each) or ``gthread:N``."""

    def __init__(self, name, threads=1):
        self.name = name
        # gunicorn runs "sync" with more than one thread as gthread.
        self.threads = 1 if name == "sync" else threads

    @classmethod
    def configured(cls):
        """What gunicorn.conf.py says (and the environment it reads)."""
        import runpy

        conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
        return cls(conf.get("worker_class", "sync"), conf.get("threads", 1))

    @classmethod
    def parse(cls, spec, default_threads):
        name, _, threads = spec.strip().partition(":")
        if name not in ("sync", "gthread") or (threads and not threads.isdigit()):
            raise SystemExit(
                f"bench: --worker-class takes sync, gthread or gthread:N, not {spec!r}"
            )
        return cls(name, int(threads) if threads else default_threads)

    def spec(self):
        return self.name if self.name == "sync" else f"{self.name}:{self.threads}"

    def describe(self):
        return self.name if self.name == "sync" else f"{self.name}, {self.threads} threads"

    def gunicorn_flags(self):
        return ["--worker-class", self.name, "--threads", str(self.threads)]


def fetch(port, method, path, headers=None, body=None, timeout=30):
    """One request; returns (status, headers as a lowercase dict, body bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        headers = dict(headers or {})
        if payload is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        connection.close()


# --- wrk --------------------------------------------------------------------------


class Wrk:
    def __init__(self, binary, port, threads, connections):
        self.binary = binary
        self.port = port
        self.threads = threads
        self.connections = connections

    def run(self, path, seconds, script="read.lua", env=None):
        command = [
            self.binary,
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(HERE / script),
            f"http://127.0.0.1:{self.port}{path}",
        ]
        result = subprocess.run(
            command,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
        for line in result.stdout.splitlines():
            if line.startswith("BENCH_JSON "):
                return json.loads(line.removeprefix("BENCH_JSON "))
        raise RuntimeError(f"wrk gave no result (exit {result.returncode}): {result.stderr}")


def wrk_env(headers):
    """The request headers read.lua sends, as its environment variable."""
    if not headers:
        return {}
    return {"BENCH_HEADERS": "\n".join(f"{name}: {value}" for name, value in headers.items())}


def summarise(raw):
    seconds = raw["duration_us"] / 1e6
    errors = raw["errors"]
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 2),
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": round(raw["latency_us"]["p50"] / 1000, 2),
        "p99_ms": round(raw["latency_us"]["p99"] / 1000, 2),
        "bytes_per_response": round(raw["bytes"] / raw["requests"]) if raw["requests"] else 0,
        "errors": errors,
        "non_2xx_3xx": errors["status"],
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
    }


# --- the run ----------------------------------------------------------------------


class Bench:
    def __init__(self, args, wrk_binary, workdir, worker=None, worker_stages=True):
        self.args = args
        self.worker = worker
        # The worker's own stages (check scheduling) run in one column per database.
        self.worker_stages = worker_stages
        self.query_counts = None
        self.profile = PROFILES["quick" if args.quick else "full"]
        self.duration = args.duration or self.profile["duration"]
        self.warmup = self.profile["warmup"]
        self.wrk_binary = wrk_binary
        self.workdir = workdir
        self.rows = []
        self.api_key = None
        self.server = None
        self.wrk = None

    # rows -------------------------------------------------------------------

    def row(self, key, label, incidents, baseline="static", **fields):
        row = {"key": key, "label": label, "incidents": incidents, "baseline": baseline, **fields}
        self.rows.append(row)
        return row

    def probe(self, path, expect, headers=None, api=False):
        """One request before loading: None when it answers as expected, else
        why the row cannot be measured."""
        headers = dict(headers or {})
        if api:
            headers["x-api-key"] = self.api_key
        try:
            status, _headers, _body = fetch(self.server.port, "GET", path, headers)
        except OSError as error:
            return f"request failed: {error}"
        if status == expect:
            return None
        if status == 404:
            return f"missing: GET {path.split('?')[0]} answers 404 (not built yet?)"
        return f"error: GET {path.split('?')[0]} answers {status}, expected {expect}"

    def warm_up(self, path, headers=None, api=False):
        """Every worker serves the URL a few times (its first request renders
        or loads what later ones reuse), then wrk runs briefly if configured."""
        headers = dict(headers or {})
        env = {}
        if api:
            headers["x-api-key"] = env["BENCH_API_KEY"] = self.api_key
        env.update(wrk_env(headers))
        for _ in range(2 * self.args.workers):
            fetch(self.server.port, "GET", path, headers)
        if self.warmup:
            self.wrk.run(path, self.warmup, env=env)

    def measure(
        self, key, label, path, incidents, expect=200, headers=None, api=False, baseline="static"
    ):
        problem = self.probe(path, expect, headers, api)
        if problem:
            log(f"{key}: {problem}")
            return self.row(key, label, incidents, baseline, path=path, status="skipped",
                            note=problem)  # fmt: skip
        env = {}
        if api:
            env["BENCH_API_KEY"] = self.api_key
        env.update(wrk_env(headers))
        self.warm_up(path, headers, api)
        result = summarise(self.wrk.run(path, self.duration, env=env))
        log(f"{key}: {result['rps']:.0f} req/s, p99 {result['p99_ms']} ms")
        return self.row(key, label, incidents, baseline, path=path, status="ok", note="", **result)

    # the stages -------------------------------------------------------------

    def run(self):
        from django.core.management import call_command

        filler = Filler(self.args.updates, self.args.monitors, self.args.windows)
        for name in ("check_monitors", "check_seconds"):
            if getattr(self.args, name) is None:
                setattr(self.args, name, self.profile[name])
        if self.args.checks_only:
            self.args.small = self.args.incidents = 10
            self.args.large = 0
        sizes = {
            "small": self.args.small or self.profile["small"],
            "main": self.args.incidents or self.profile["main"],
            "large": self.args.large if self.args.large is not None else self.profile["large"],
        }
        filler.fill_to(sizes["small"])

        from io import StringIO

        out = StringIO()
        call_command("createapikey", "bench", stdout=out)
        self.api_key = out.getvalue().strip().splitlines()[-1]
        from django.db import connection

        connection.close()

        static_path = self.static_path()
        self.server = Server(self.server_env(), self.args.workers, self.workdir / "gunicorn.log",
                             self.worker)  # fmt: skip
        log(f"starting gunicorn with {self.args.workers} workers")
        self.server.start(static_path)
        self.wrk = Wrk(
            self.wrk_binary, self.server.port, self.args.wrk_threads, self.args.connections
        )
        # Every worker past its first requests before the first ceiling is
        # measured (even in the quick profile, which warms no row up).
        self.wrk.run(static_path, 1)
        try:
            if not self.args.checks_only:
                self.stage_small(sizes["small"], static_path)
                filler.fill_to(sizes["main"])
                self.stage_main(sizes["main"], static_path, filler)
                if sizes["large"]:
                    filler.fill_to(sizes["large"])
                    self.stage_large(sizes["large"], static_path)
            if self.args.check_monitors:
                from checks import stage_checks

                stage_checks(self, sizes["large"] or sizes["main"], static_path,
                             schedule=self.worker_stages)  # fmt: skip
        finally:
            self.server.stop()
        return sizes

    # Each scale stage measures the static file again: its rows are compared
    # with their own stage's ceiling, so a machine that got busier (or calmer)
    # between stages does not read as a change with the size of the history.

    def stage_small(self, size, static_path):
        self.measure("static_small", "static file (scale: small)", static_path, size,
                     baseline="static_small")  # fmt: skip
        self.measure("page_small", "/ (scale: small)", "/", size, baseline="static_small")
        self.measure("list_small", "GET /api/incidents?limit=50 (scale: small)",
                     "/api/incidents?limit=50", size, api=True,
                     baseline="static_small")  # fmt: skip

    def stage_main(self, size, static_path, filler):
        self.measure("static", "static file (whitenoise)", static_path, size)
        page = self.measure("page", "/ status page", "/", size)
        # The part htmx fetches every refresh: a stored page of its own.
        self.measure("page_htmx", "/ htmx live part (HX-Request: true)", "/", size,
                     headers={"HX-Request": "true"})  # fmt: skip
        etag = self.etag("/")
        if etag:
            self.measure("page_304", "/ conditional GET → 304", "/", size, expect=304,
                         headers={"If-None-Match": etag})  # fmt: skip
        else:
            note = "skipped: / sends no ETag" if page["status"] == "ok" else page["note"]
            self.row("page_304", "/ conditional GET → 304", size, path="/", status="skipped",
                     note=note)  # fmt: skip
        # The same page in a second language: its own stored copy, as cheap.
        german = {"Accept-Language": "de"}
        key, label = "page_de", "/ in German (Accept-Language: de)"
        if self.speaks(german, "de"):
            self.measure(key, label, "/", size, headers=german)
        else:
            self.row(key, label, size, path="/", status="skipped",
                     note="/ does not answer in German")  # fmt: skip
        incident = filler.newest_incident_id
        self.measure("incident_page", "/incidents/<id>/", f"/incidents/{incident}/", size)
        # The public faces other sites poll (incidents/public/urls.py).
        self.measure("statuspage_json", "GET /api/v2/summary.json (Statuspage)",
                     "/api/v2/summary.json", size)  # fmt: skip
        self.measure("badge", "GET /badge.svg", "/badge.svg", size)
        self.measure("api_list", "GET /api/incidents?limit=50", "/api/incidents?limit=50", size,
                     api=True)  # fmt: skip
        self.measure("api_detail", "GET /api/incidents/:id", f"/api/incidents/{incident}", size,
                     api=True)  # fmt: skip
        self.storm(size, filler.monitor_ids[0])
        self.writes(size, filler.monitor_ids[0])
        self.query_counts = self.count_queries(filler.monitor_ids[0])

    def stage_large(self, size, static_path):
        self.measure("static_large", "static file (scale: large)", static_path, size,
                     baseline="static_large")  # fmt: skip
        self.measure("page_large", "/ (scale: large)", "/", size, baseline="static_large")
        self.measure("list_large", "GET /api/incidents?limit=50 (scale: large)",
                     "/api/incidents?limit=50", size, api=True,
                     baseline="static_large")  # fmt: skip

    def speaks(self, headers, language):
        try:
            _status, _headers, body = fetch(self.server.port, "GET", "/", headers)
        except OSError:
            return False
        return f'<html lang="{language}">'.encode() in body

    def etag(self, path):
        try:
            status, headers, _body = fetch(self.server.port, "GET", path)
        except OSError:
            return None
        return headers.get("etag") if status == 200 else None

    # the refresh storm ------------------------------------------------------

    def api(self, method, path, body=None):
        return fetch(self.server.port, method, path, {"x-api-key": self.api_key}, body)

    def storm(self, size, monitor_id):
        key, label = "storm", "/ during a refresh storm (PATCH every 100 ms)"
        page_problem = self.probe("/", 200)
        if page_problem:
            return self.row(key, label, size, path="/", status="skipped", note=page_problem)
        status, _h, body = self.api("POST", "/api/incidents", {
            "title": "Checkout failing in every region",
            "status": "identified",
            "message": f"{STORM_MARK}0",
            "monitorIds": [monitor_id],
        })  # fmt: skip
        if status != 201:
            note = f"POST /api/incidents answers {status}"
            note = ("missing: " if status == 404 else "error: ") + note
            log(f"storm: {note}")
            return self.row(key, label, size, path="/", status="skipped", note=note)
        incident_id = json.loads(body)["id"]

        state = {"committed": 0, "writes": 0, "write_errors": 0, "samples": 0, "stale": 0,
                 "worst_lag": 0, "check_errors": 0, "write_ms": []}  # fmt: skip
        lock = threading.Lock()
        stop = threading.Event()
        pattern = re.compile(re.escape(STORM_MARK) + r"(\d+)")

        def writer():
            n = 0
            next_at = time.monotonic()
            while not stop.is_set():
                n += 1
                began = time.monotonic()
                try:
                    status, _h, _b = self.api("PATCH", f"/api/incidents/{incident_id}",
                                              {"message": f"{STORM_MARK}{n}"})  # fmt: skip
                except OSError:
                    status = None
                with lock:
                    state["write_ms"].append((time.monotonic() - began) * 1000)
                    if status == 200:
                        state["committed"] = n
                        state["writes"] += 1
                    else:
                        state["write_errors"] += 1
                next_at += STORM_INTERVAL
                stop.wait(max(0.0, next_at - time.monotonic()))

        def checker():
            while not stop.is_set():
                with lock:
                    expected = state["committed"]
                try:
                    status, _h, body = fetch(self.server.port, "GET", "/")
                except OSError:
                    status, body = None, b""
                with lock:
                    if status != 200:
                        state["check_errors"] += 1
                        continue
                    shown = max((int(n) for n in pattern.findall(body.decode())), default=-1)
                    state["samples"] += 1
                    if shown < expected:
                        state["stale"] += 1
                        state["worst_lag"] = max(state["worst_lag"], expected - shown)

        threads = [threading.Thread(target=writer), threading.Thread(target=checker)]
        self.warm_up("/")
        for thread in threads:
            thread.start()
        try:
            result = summarise(self.wrk.run("/", self.duration))
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        deleted = self.api("DELETE", f"/api/incidents/{incident_id}")[0]
        write_ms = sorted(state.pop("write_ms"))
        storm = {
            **state,
            "write_p50_ms": round(write_ms[len(write_ms) // 2], 1) if write_ms else None,
            "writes_per_s": round(state["writes"] / result["seconds"], 1),
            "fresh": state["samples"] > 0 and state["stale"] == 0 and state["check_errors"] == 0,
            "cleanup_delete_status": deleted,
        }
        note = (
            f"{state['writes']} writes; {state['samples'] - state['stale']}/{state['samples']} "
            "checked responses fresh"
        )
        if state["stale"]:
            note += f" (worst {state['worst_lag']} writes behind)"
        if state["write_errors"] or state["check_errors"]:
            note += (
                f"; {state['write_errors']} failed writes, {state['check_errors']} failed checks"
            )
        log(f"storm: {result['rps']:.0f} req/s; {note}")
        return self.row(key, label, size, path="/", status="ok", note=note, storm=storm, **result)

    # writes -----------------------------------------------------------------

    def writes(self, size, monitor_id):
        key, label = "writes", "POST + PATCH /api/incidents (wrk Lua)"
        status, _h, body = self.api("POST", "/api/incidents", {
            "title": WRITE_TITLE, "message": "Probe.", "monitorIds": [monitor_id],
        })  # fmt: skip
        if status == 201:
            status = self.api("PATCH", f"/api/incidents/{json.loads(body)['id']}",
                              {"status": "resolved", "message": "Probe done."})[0]  # fmt: skip
            expected = 200
        else:
            expected = 201
        if status != expected:
            note = f"{'missing' if status == 404 else 'error'}: write probe answers {status}"
            log(f"writes: {note}")
            return self.row(key, label, size, path="/api/incidents", status="skipped", note=note)
        env = {"BENCH_API_KEY": self.api_key, "BENCH_MONITOR_ID": monitor_id}
        raw = self.wrk.run("/api/incidents", self.duration, script="write.lua", env=env)
        result = summarise(raw)
        unexpected = sum(n for s, n in raw["statuses"].items() if s not in ("200", "201"))
        pairs = round(raw["patched"] / result["seconds"], 1)
        left_open = self.resolve_leftovers()
        note = f"{pairs} pairs/s ({raw['created']} created, {raw['patched']} resolved)"
        log(f"writes: {result['rps']:.0f} req/s, {note}")
        return self.row(key, label, size, path="/api/incidents", status="ok", note=note,
                        pairs_per_s=pairs, created=raw["created"], patched=raw["patched"],
                        statuses=raw["statuses"], unexpected_statuses=unexpected,
                        left_open_resolved=left_open, **result)  # fmt: skip

    def count_queries(self, monitor_id):
        """SQL queries of one create, one resolve and one unchanged ``/``, in
        this process through Django's test client (the same database and
        cache as the server's); the second of each, so nothing a process
        reads once (page settings, a language) is counted. None when a
        request does not answer as expected."""
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        client = Client(SERVER_NAME="127.0.0.1")
        key = {"x-api-key": self.api_key}
        counts = {}

        def counted(name, expect, method, path, **options):
            with CaptureQueriesContext(connection) as queries:
                response = getattr(client, method)(path, **options)
            if response.status_code != expect:
                raise LookupError(f"{method.upper()} {path} answered {response.status_code}")
            counts[name] = len(queries)
            return response

        try:
            for _ in range(2):
                body = {"title": WRITE_TITLE, "message": "Counted.", "monitorIds": [monitor_id]}
                created = counted("create", 201, "post", "/api/incidents", data=body,
                                  content_type="application/json", headers=key)  # fmt: skip
                counted("resolve", 200, "patch", f"/api/incidents/{created.json()['id']}",
                        data={"status": "resolved", "message": "Counted."},
                        content_type="application/json", headers=key)  # fmt: skip
                client.get("/")  # renders the page the writes changed
                counted("page_unchanged", 200, "get", "/")
        except LookupError as error:
            log(f"query counts: {error}")
            return None
        finally:
            connection.close()
        log(f"queries: {counts}")
        return counts

    def resolve_leftovers(self):
        """wrk stops between a POST and its PATCH on each connection: resolve
        those incidents through the domain so later pages stay the same."""
        from django.db import connection

        from incidents.models import Incident

        count = 0
        for incident in Incident.objects.filter(title=WRITE_TITLE).unresolved():
            incident.resolve(message="Resolved by make bench.")
            count += 1
        connection.close()
        return count

    # environment ------------------------------------------------------------

    def server_env(self):
        env = dict(os.environ)
        for name in ("PORT", "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS"):
            env.pop(name, None)  # gunicorn reads these; the bench decides
        return env

    def static_path(self):
        manifest = json.loads((Path(os.environ["STATIC_ROOT"]) / "staticfiles.json").read_text())
        paths = manifest["paths"]
        name = "incidents/status.css" if "incidents/status.css" in paths else sorted(paths)[0]
        return "/static/" + paths[name]


# --- the report -------------------------------------------------------------------


def add_ratios(rows):
    """Each row's req/s ÷ its baseline's: the static file measured in the same stage."""
    by_key = {row["key"]: row for row in rows}
    for row in rows:
        static = by_key.get(row["baseline"])
        if row["status"] == "ok" and static and static["status"] == "ok" and static["rps"]:
            row["ratio"] = round(row["rps"] / static["rps"], 3)
        else:
            row["ratio"] = None
    return by_key


TARGET_NAMES = {
    "page": "`/`",
    "storm": "`/` during the refresh storm, every checked page fresh",
    "api_list": "`GET /api/incidents?limit=50`",
    "api_detail": "`GET /api/incidents/:id`",
    "incident_page": "`/incidents/<id>/`",
    "ping": "`/ping/<token>`",
}


def minimum_label(minimums, unit):
    """``≥ 1.0× (SQLite), ≥ 0.8× (PostgreSQL, …)``, or one ``≥ 0.5×`` when all agree."""
    by_minimum = {}
    for backend, minimum in minimums.items():
        if minimum is not None:
            by_minimum.setdefault(minimum, []).append(BACKENDS[backend])
    if len(by_minimum) == 1 and len(next(iter(by_minimum.values()))) == len(BACKENDS):
        return f"≥ {next(iter(by_minimum))}{unit}"
    return ", ".join(f"≥ {m}{unit} ({', '.join(names)})" for m, names in by_minimum.items())


def column_targets(by_key, backend):
    """Issue #19's targets for one column, in order: each ``{"key", "target",
    "minimum", "value", "met"}``; ``met`` is None where the backend has no
    such target (the figure is shown for reference)."""
    checks = []

    def check(key, target, minimum, value, met, **more):
        if minimum is None:
            met = None
        checks.append({"key": key, "target": target, "minimum": minimum, "value": value,
                       "met": met, **more})  # fmt: skip

    for key, minimums in RATIO_TARGETS.items():
        row = by_key.get(key)
        if key == "ping" and not row:
            continue  # no checks stage in this run
        minimum = minimums.get(backend)
        value = row.get("ratio") if row else None
        met = value is not None and minimum is not None and value >= minimum
        more = {}
        if key == "storm" and row and row.get("storm"):
            more = {"fresh": row["storm"]["fresh"], "stale": row["storm"]["stale"]}
            met = met and row["storm"]["fresh"]
        target = f"{TARGET_NAMES[key]} {minimum_label(minimums, '× static')}"
        check(key, target, minimum, value, met, **more)
    for kind in ("page", "list"):
        small, large = by_key.get(f"{kind}_small"), by_key.get(f"{kind}_large")
        if not large:
            continue  # no large stage in this run
        value = None
        if small and small.get("ratio") and large.get("ratio"):
            # Each measured against its own stage's static file.
            value = round(small["ratio"] / large["ratio"], 3)
        target = (
            f"{kind}: × static at {small['incidents'] if small else '?':,} ÷ at "
            f"{large['incidents']:,} incidents ≤ {SCALE_TARGET}"
        )
        check(f"scale_{kind}", target, SCALE_TARGET, value, value is not None
              and value <= SCALE_TARGET)  # fmt: skip
    english, german = by_key.get("page"), by_key.get("page_de")
    if english:
        value = None
        if german and english.get("ratio") and german.get("ratio"):
            value = round(german["ratio"] / english["ratio"], 3)
        check("page_de", f"/ in German ÷ / in English ≥ {SECOND_LANGUAGE_TARGET}",
              SECOND_LANGUAGE_TARGET, value,
              value is not None and value >= SECOND_LANGUAGE_TARGET)  # fmt: skip
    writes = by_key.get("writes")
    if writes:
        pairs = writes.get("pairs_per_s")
        minimum = WRITES_TARGET.get(backend)
        target = f"create+resolve pairs/s {minimum_label(WRITES_TARGET, '')}"
        check("writes", target, minimum, pairs,
              pairs is not None and minimum is not None and pairs >= minimum)  # fmt: skip
    if "check_schedule" in by_key:
        from checks import check_targets

        for figure in check_targets(by_key):
            check(figure["target"], figure["target"], True, figure["value"], figure["met"])
    return checks


def all_targets(columns):
    """The targets as rows, each with every measured column's figure."""
    rows = {}
    for column in columns:
        if column["status"] != "ok":
            continue
        for figure in column["targets"]:
            row = rows.setdefault(figure["key"], {"target": figure["target"], "columns": {}})
            row["columns"][column["name"]] = figure
    return list(rows.values())


def target_cell(figure):
    if figure is None:
        return "–"
    value = "not measured" if figure["value"] is None else f"{figure['value']}"
    if "fresh" in figure:
        value += ", all fresh" if figure["fresh"] else f", {figure['stale']} stale"
    verdict = {True: "met", False: "**missed**", None: "no target here"}[figure["met"]]
    return f"{value} — {verdict}"


def markdown(result):
    columns = [column for column in result["columns"] if column["status"] == "ok"]
    lines = []
    if columns:
        header = "| what | incidents |"
        rule = "|---|---:|"
        for column in columns:
            header += f" {column['name']} req/s | × static | p99 ms |"
            rule += "---:|---:|---:|"
        lines += [header, rule]
        order = []
        for column in columns:
            for row in column["rows"]:
                if row["key"] not in order:
                    order.append(row["key"])
        by_column = [{row["key"]: row for row in column["rows"]} for column in columns]
        for key in order:
            first = next(rows[key] for rows in by_column if key in rows)
            line = f"| {first['label']} | {first['incidents']:,} |"
            for rows in by_column:
                row = rows.get(key)
                if not row or row["status"] == "measured":
                    line += " – | – | – |"
                elif row["status"] != "ok":
                    line += f" {row['status']} | – | – |"
                else:
                    errors = (row["non_2xx_3xx"] + row["socket_errors"]
                              + row.get("unexpected_statuses", 0))  # fmt: skip
                    rps = f"{row['rps']:,.0f}" + (f" ({errors} errors)" if errors else "")
                    ratio = row["ratio"] if row["ratio"] is not None else "–"
                    line += f" {rps} | {ratio} | {row['p99_ms']} |"
            lines.append(line)
        lines.append("")
        for column in columns:
            notes = [f"{row['key']}: {row['note']}" for row in column["rows"] if row["note"]]
            counts = column.get("query_counts")
            if counts:
                notes.append(
                    "SQL queries: create {create}, resolve {resolve}, "
                    "unchanged / {page_unchanged}".format(**counts)
                )
            lines.append(f"- {column['name']}: " + "; ".join(notes))
    for column in result["columns"]:
        if column["status"] != "ok":
            lines.append(f"- {column['name']}: {column['status']} — {column['reason']}")
    lines.append("")
    if columns:
        lines.append("| target |" + "".join(f" {column['name']} |" for column in columns))
        lines.append("|---|" + "---|" * len(columns))
        for row in result["targets"]:
            cells = "".join(
                f" {target_cell(row['columns'].get(column['name']))} |" for column in columns
            )
            lines.append(f"| {row['target']} |{cells}")
        lines.append("")
    machine = result["machine"]
    lines.append(
        f"Machine: {machine['nproc']} CPU ({machine['cpu']}), Python {machine['python']}, "
        f"{machine['wrk']} -t{machine['wrk_threads']} -c{machine['wrk_connections']}, "
        f"{result['config']['duration_s']} s per row; {result['finished_at']}, "
        f"commit {machine['commit']}."
    )
    for column in columns:
        about = column["machine"]
        lines.append(
            f"- {column['name']}: Django {about['django']}, {about['database']}, cache: "
            f"{about['cache']}; gunicorn {about['gunicorn_workers']} workers "
            f"({about['gunicorn_worker_class']}); database is locked: "
            f"{column['database_is_locked']}, server tracebacks: "
            f"{column['server_errors_logged']}."
        )
    return "\n".join(lines)


def stage_tables(result):
    """The subscribers and uptime stages' tables, per column that ran them."""
    import subscribers as subscribers_bench
    import uptime as uptime_bench

    parts = []
    for column in result["columns"]:
        for key, module in (("subscribers", subscribers_bench), ("uptime", uptime_bench)):
            if column.get(key):
                parts.append(f"{column['name']}, {key} stage:\n\n{module.markdown(column[key])}")
    return "\n\n".join(parts)


# --- main -------------------------------------------------------------------------


def parse_args(argv):
    nproc = cpu_count()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and 2 s per row: under a minute")  # fmt: skip
    parser.add_argument("--incidents", type=int, help="incidents for the main rows (10,000)")
    parser.add_argument("--small", type=int, help="incidents for the small scale rows (1,000)")
    parser.add_argument("--large", type=int,
                        help="incidents for the large scale rows (100,000; 0 skips)")  # fmt: skip
    parser.add_argument("--updates", type=int, default=3, help="updates per incident (3)")
    parser.add_argument("--monitors", type=int, default=50)
    parser.add_argument("--windows", type=int, default=20, help="maintenance windows (20)")
    parser.add_argument("--duration", type=int, help="seconds per measured row (10; quick 2)")
    parser.add_argument("--workers", type=int, default=2 * nproc,
                        help="gunicorn workers (2 per core)")  # fmt: skip
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help=f"columns, comma-separated: {', '.join(BACKENDS)} (all; unreachable: skipped)",
    )
    parser.add_argument(
        "--worker-class",
        help="gunicorn worker classes, comma-separated, a column each: sync, gthread, "
        "gthread:N (default: gunicorn.conf.py's)",
    )
    parser.add_argument(
        "--threads",
        "--worker-threads",
        dest="worker_threads",
        type=int,
        help="threads per gthread worker (gunicorn.conf.py's)",
    )
    parser.add_argument("--wrk-threads", type=int, default=min(2, nproc), help="wrk threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument(
        "--check-monitors",
        type=int,
        help="HTTP monitors for the checks row (1,000; quick 100; 0: no checks)",
    )
    parser.add_argument(
        "--check-seconds", type=int, help="seconds the checks row runs the worker (60; quick 12)"
    )
    parser.add_argument(
        "--checks-only", action="store_true", help="only the checks stage (tests/bench/checks.py)"
    )
    parser.add_argument("--subscribers", type=int,
                        help="subscribers to mail (10,000; quick 300; 0: none)")  # fmt: skip
    parser.add_argument("--uptime-monitors", type=int, default=50,
                        help="monitors of the uptime stage (50; 0: none)")  # fmt: skip
    parser.add_argument("--output", default=str(ROOT / "bench-results.json"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--column", help=argparse.SUPPRESS)  # one column, in its own process
    return parser.parse_args(argv)


def separate_stage(name, script, arguments, configured_url):
    """``script`` (beside this file) in its own process and database, writing
    its result as JSON: that result with ``"status": "ok"``, or a failure."""
    output = Path(tempfile.mkdtemp(prefix="kamustatus-bench-")) / f"{name}.json"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["DATABASE_URL"] = configured_url
    command = [sys.executable, str(HERE / script), *arguments, "--output", str(output)]
    completed = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=False)
    if completed.returncode != 0 or not output.exists():
        log(f"{name} stage failed")
        return {"status": "failed"}
    result = json.loads(output.read_text())
    shutil.rmtree(output.parent, ignore_errors=True)
    return {"status": "ok", **result}


def uptime_stage(args, configured_url):
    """tests/bench/uptime.py: ``/`` rendered fresh after a write with 50
    monitors × 90 days, before and after the bars."""
    if not args.uptime_monitors:
        return None
    log(f"uptime stage: {args.uptime_monitors} monitors × 90 days")
    arguments = ["--monitors", str(args.uptime_monitors), "--samples", "5" if args.quick else "20"]
    return separate_stage("uptime", "uptime.py", arguments, configured_url)


def subscribers_stage(args, configured_url):
    """tests/bench/subscribers.py: mail to N subscribers after one update, and
    the update request's time beside it."""
    count = args.subscribers
    if count is None:
        count = 300 if args.quick else 10_000
    if not count:
        return None
    arguments = ["--subscribers", str(count), "--workers", str(args.workers)]
    if args.quick:
        arguments += ["--samples", "10"]
    log(f"subscribers stage: {count:,} subscribers")
    return separate_stage("subscribers", "subscribers.py", arguments, configured_url)


def run_column(spec):
    """One column, in this process: a fresh database on the backend the
    environment names (DATABASE_URL, REDIS_URL, CACHE_KEY_PREFIX, set by the
    parent), every stage, the result as JSON in ``spec["output"]``."""
    args = argparse.Namespace(**spec["args"])
    worker = WorkerClass.parse(spec["worker"], 1)
    wrk_binary = shutil.which("wrk")
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="kamustatus-bench-"))
    configured_url = os.environ.get("DATABASE_URL", "")
    try:
        with FreshDatabase(configured_url, workdir) as database:
            os.environ.update({
                "DJANGO_SETTINGS_MODULE": "statuspage.settings",
                "DATABASE_URL": database.url,
                "SECRET_KEY": secrets.token_urlsafe(50),
                "DEBUG": "0",
                "ALLOWED_HOSTS": "127.0.0.1",
                "STATIC_ROOT": str(workdir / "static"),
                # The page's last good copy (incidents/cache/outage.py) is
                # this run's, not the checkout's.
                "LAST_GOOD_DIR": str(workdir / "last-good"),
                # The ping row hammers one token: no per-token limit for it.
                "PING_RATE_LIMIT": "1000000000",
                # The checks row's target is a local server.
                "CHECKS_ALLOW_PRIVATE": "1",
            })  # fmt: skip
            if os.environ.get("REDIS_URL") and not os.environ.get("CACHE_KEY_PREFIX"):
                raise SystemExit("bench: a Redis column needs a CACHE_KEY_PREFIX of its own")
            sys.path.insert(0, str(ROOT))
            import django

            django.setup()
            from django.conf import settings
            from django.core.management import call_command

            log(f"database {database.url.split('@')[-1]}; migrating")
            call_command("migrate", verbosity=0, interactive=False)
            call_command("collectstatic", verbosity=0, interactive=False)
            machine = {
                "django": django.get_version(),
                "database": database.describe(),
                "cache": "Redis" if os.environ.get("REDIS_URL") else "database cache",
                "gunicorn_workers": args.workers,
                "gunicorn_worker_class": worker.describe(),
            }
            assert not settings.DEBUG
            bench = Bench(args, wrk_binary, workdir, worker, spec["worker_stages"])
            sizes = bench.run()
            server_log = bench.server.log_text() if bench.server else ""
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"kept {workdir}")

    subscribers = uptime = None
    if spec["worker_stages"]:
        subscribers = subscribers_stage(args, configured_url)
        uptime = uptime_stage(args, configured_url)
    by_key = add_ratios(bench.rows)
    result = {
        "name": spec["name"],
        "backend": spec["backend"],
        "worker_class": worker.spec(),
        "status": "ok",
        "seconds": round(time.monotonic() - started, 1),
        "sizes": sizes,
        "machine": machine,
        "database_is_locked": server_log.count("database is locked"),
        "server_errors_logged": server_log.count("Traceback"),
        "rows": bench.rows,
        "query_counts": bench.query_counts,
        "targets": column_targets(by_key, spec["backend"]),
        "subscribers": subscribers,
        "uptime": uptime,
    }
    Path(spec["output"]).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def unreachable(backend, postgres_url, redis_url):
    """Why ``backend``'s servers cannot be used, or None when they answer."""
    if backend.startswith("postgres"):
        import psycopg

        admin_url = FreshDatabase(postgres_url, None).admin_url()
        where = urllib.parse.urlsplit(admin_url)
        try:
            psycopg.connect(admin_url, connect_timeout=3).close()
        except psycopg.Error as error:
            return (f"PostgreSQL at {where.hostname}:{where.port or 5432} does not answer "
                    f"({type(error).__name__}; DATABASE_URL names another)")  # fmt: skip
    if backend.endswith("+redis"):
        import redis

        where = urllib.parse.urlsplit(redis_url)
        try:
            redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2).ping()
        except redis.RedisError as error:
            return (f"Redis at {where.hostname}:{where.port or 6379} does not answer "
                    f"({type(error).__name__}; REDIS_URL names another)")  # fmt: skip
    return None


def delete_redis_keys(redis_url, prefix):
    """Remove what a column left in Redis under its own key prefix."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    deleted = 0
    try:
        batch = []
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += client.delete(*batch)
                batch = []
        if batch:
            deleted += client.delete(*batch)
    except redis.RedisError as error:
        log(f"could not delete the Redis keys under {prefix}: {type(error).__name__}")
    return deleted


def column_process(args, backend, worker, name, worker_stages, postgres_url, redis_url):
    """One column: this script with ``--column`` in a process of its own."""
    workdir = Path(tempfile.mkdtemp(prefix="kamustatus-bench-column-"))
    spec = {"args": vars(args), "backend": backend, "name": name, "worker": worker.spec(),
            "worker_stages": worker_stages, "output": str(workdir / "column.json")}  # fmt: skip
    (workdir / "spec.json").write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(BENCH_COLUMN=name, DATABASE_URL=postgres_url if backend != "sqlite" else "")
    env.pop("REDIS_URL", None)
    env.pop("CACHE_KEY_PREFIX", None)
    prefix = None
    if backend.endswith("+redis"):
        # A shared Redis must not mix this run's pages with anyone else's.
        prefix = "kamustatus-bench-" + secrets.token_hex(6)
        env.update(REDIS_URL=redis_url, CACHE_KEY_PREFIX=prefix)
    log(f"{name}: starting")
    command = [sys.executable, str(HERE / "run.py"), "--column", str(workdir / "spec.json")]
    try:
        completed = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    finally:
        if prefix:
            log(f"{name}: deleted {delete_redis_keys(redis_url, prefix)} Redis keys of the run")
    output = Path(spec["output"])
    try:
        if completed.returncode == 0 and output.exists():
            return json.loads(output.read_text())
        return {"name": name, "backend": backend, "worker_class": worker.spec(),
                "status": "failed",
                "reason": f"exited with {completed.returncode}; see the log above"}  # fmt: skip
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def chosen_backends(spec):
    backends = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in backends if name not in BACKENDS]
    if unknown or not backends:
        raise SystemExit(f"bench: --backends takes {', '.join(BACKENDS)}, not {spec!r}")
    return backends


def chosen_workers(args):
    configured = WorkerClass.configured()
    threads = args.worker_threads or (configured.threads if configured.threads > 1 else 64)
    if not args.worker_class:
        if args.worker_threads and configured.name != "sync":
            return [WorkerClass(configured.name, args.worker_threads)]
        return [configured]
    return [WorkerClass.parse(spec, threads) for spec in args.worker_class.split(",")]


def main(argv=None):
    args = parse_args(argv)
    if args.column:
        return run_column(json.loads(Path(args.column).read_text()))
    wrk_binary = shutil.which("wrk")
    if not wrk_binary:
        raise SystemExit("bench: wrk is not installed (Debian: apt-get install -y wrk)")
    started = time.monotonic()
    backends = chosen_backends(args.backends)
    workers = chosen_workers(args)
    configured_url = os.environ.get("DATABASE_URL", "")
    postgres_url = configured_url if FreshDatabase(configured_url, None).is_postgres else (
        DEFAULT_POSTGRES_URL
    )  # fmt: skip
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    columns, databases_with_worker_stages = [], set()
    for backend in backends:
        reason = unreachable(backend, postgres_url, redis_url)
        for worker in workers:
            name = BACKENDS[backend] + (f", {worker.describe()}" if len(workers) > 1 else "")
            if reason:
                log(f"{name}: skipped — {reason}")
                columns.append({"name": name, "backend": backend, "worker_class": worker.spec(),
                                "status": "skipped", "reason": reason})  # fmt: skip
                continue
            database = backend.split("+")[0]
            worker_stages = database not in databases_with_worker_stages
            databases_with_worker_stages.add(database)
            columns.append(column_process(args, backend, worker, name, worker_stages,
                                          postgres_url, redis_url))  # fmt: skip

    profile = PROFILES["quick" if args.quick else "full"]
    measured = [column for column in columns if column["status"] == "ok"]
    result = {
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "total_seconds": round(time.monotonic() - started, 1),
        "config": {
            "profile": "quick" if args.quick else "full",
            "backends": backends,
            "worker_classes": [worker.spec() for worker in workers],
            "sizes": measured[0]["sizes"] if measured else None,
            "updates_per_incident": args.updates,
            "monitors": args.monitors,
            "maintenance_windows": args.windows,
            "duration_s": args.duration or profile["duration"],
            "writes_client": "wrk Lua script (tests/bench/write.lua): POST, then PATCH its id",
            "storm_client": "Python writer (PATCH every 100 ms) and checker beside wrk",
        },
        "machine": {
            "nproc": cpu_count(),
            "cpu": cpu_model(),
            "python": platform.python_version(),
            "wrk": wrk_version(wrk_binary),
            "wrk_threads": args.wrk_threads,
            "wrk_connections": args.connections,
            "commit": git_commit(),
        },
        "columns": columns,
        "targets": all_targets(columns),
    }
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    tables = stage_tables(result)
    if tables:
        print()
        print(tables)
    log(f"wrote {args.output} in {result['total_seconds']} s")
    return 1 if any(column["status"] == "failed" for column in columns) else 0


if __name__ == "__main__":
    sys.exit(main())
