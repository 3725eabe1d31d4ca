"""Two real ``manage.py worker`` processes share the fan-out and the sending
of 3 events to 600 subscribers (18 batches of 100): the SMTP sink (aiosmtpd)
receives 1,800 mails, none twice. On PostgreSQL the workers use the test database (SKIP
LOCKED claims); on SQLite a migrated file (claims under its write lock)."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from tests.servers import migrated_sqlite, secret_key
from tests.smtp_sink import running_sink

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
SUBSCRIBERS = 600
EVENTS = 3


@pytest.fixture
def database_url(request, tmp_path):
    """A database both this test and the worker processes see."""
    if connection.vendor == "postgresql":
        request.getfixturevalue("transactional_db")  # committed, then flushed
        settings = connection.settings_dict
        host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
        return f"postgres://{settings['USER']}@{host}:{port}/{settings['NAME']}"
    return f"sqlite:///{tmp_path / 'db.sqlite3'}"


@pytest.fixture
def sink():
    with running_sink() as running:
        yield running


@pytest.fixture
def env(database_url, sink):
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "ALERT_", "EMAIL_", "REDIS_", "DJANGO_"))
    }
    environment.update(
        DATABASE_URL=database_url,
        SECRET_KEY=secret_key(),
        DEBUG="0",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(sink.port),
        EMAIL_USE_TLS="0",
        EMAIL_USE_SSL="0",
        SUBSCRIBER_BATCH_SIZE="100",
        SUBSCRIBER_RETRY_DELAYS="0.5",
        LOG_LEVEL="WARNING",
    )
    if database_url.startswith("sqlite"):
        migrated_sqlite(database_url.removeprefix("sqlite:///"))
    return environment


def manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )


SETUP = f"""
from datetime import timedelta
from django.utils import timezone
from incidents.models import Incident, Monitor
from incidents.subscribers.models import Subscriber
Monitor.create_monitor(name="API", id="mon_api")
confirmed = timezone.now() - timedelta(minutes=1)
Subscriber.objects.bulk_create(
    Subscriber(email=f"s{{n:05d}}@example.com", confirmed_at=confirmed)
    for n in range({SUBSCRIBERS})
)
incident = Incident.open_incident(title="Outage", message="Looking", monitor_ids=["mon_api"])
incident.post_update("identified", "Found it")
incident.resolve("Fixed")
"""


def test_two_workers_send_every_mail_once(env, sink):
    manage(env, "shell", "-c", SETUP)
    workers = [
        subprocess.Popen(
            [sys.executable, "manage.py", "worker", "--interval", "0.2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        assert sink.wait_for(SUBSCRIBERS * EVENTS, timeout=300), len(sink.messages)
        time.sleep(2)  # a second copy would arrive by now
    finally:
        outputs = []
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                outputs.append(worker.communicate(timeout=30)[0])
            except subprocess.TimeoutExpired:
                worker.kill()
                outputs.append(worker.communicate()[0])
    pairs = Counter((str(m["To"]), str(m["Subject"])) for m in sink.messages)
    assert len(sink.messages) == SUBSCRIBERS * EVENTS
    assert len(pairs) == SUBSCRIBERS * EVENTS, [pair for pair, n in pairs.items() if n > 1][:5]
    assert len({str(m["X-Kamustatus-Delivery"]) for m in sink.messages}) == SUBSCRIBERS * EVENTS
    assert len({str(m["To"]) for m in sink.messages}) == SUBSCRIBERS
    assert all("Traceback" not in output for output in outputs), outputs
    # Both workers did their share: batches are claimed, not one worker's alone.
    shares = manage(
        env,
        "shell",
        "-c",
        "from incidents.subscribers.models import Delivery\n"
        "print(Delivery.objects.filter(status='sent').values('claimed_by').distinct().count())",
    )
    assert shares.stdout.split()[-1] == "2"
