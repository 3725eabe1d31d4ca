"""``manage.py worker`` as real processes on a SQLite file: several workers
racing over the same alerts deliver each once, and SIGTERM stops a worker
cleanly."""

import signal
import sqlite3
import time

import pytest

from incidents.alerts import signing
from tests.servers import environment, manage, migrated_sqlite, secret_key, start_worker
from tests.webhook_receiver import running_receiver

pytestmark = pytest.mark.slow

SECRET = "whsec_worker-test"


@pytest.fixture
def receiver():
    with running_receiver() as received:
        yield received


@pytest.fixture
def project(tmp_path, receiver):
    """A migrated SQLite file and the environment for processes using it."""
    env = environment(
        drop=("DATABASE_", "ALERT_", "EMAIL_", "REDIS_"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        SECRET_KEY=secret_key(),
        DEBUG="0",
        ALERT_WEBHOOK_URL=receiver.url,
        ALERT_WEBHOOK_SECRET=SECRET,
        ALERT_EMAILS="",
        ALERT_RETRY_DELAYS="0,0",
        CHECKS_ALLOW_PRIVATE="1",  # the receiver listens on loopback
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    migrated_sqlite(tmp_path / "db.sqlite3")
    return env, tmp_path / "db.sqlite3"


def make_failures(env, count, tasks_per_alert=1):
    """``count`` monitors go down; each alert's delivery is queued
    ``tasks_per_alert`` times (as a re-queue after a lost worker would)."""
    manage(
        env,
        "shell",
        "-c",
        "from incidents.alerts.models import Alert\n"
        "from incidents.models import Monitor\n"
        f"for n in range({count}):\n"
        "    monitor = Monitor.create_monitor(name=f'Service {n}', id=f'mon_svc{n:03d}')\n"
        "    monitor.change(status='down')\n"
        f"for _ in range({tasks_per_alert - 1}):\n"
        "    for alert in Alert.objects.all():\n"
        "        alert.queue_delivery()\n",
    )


def alert_outcomes(database):
    with sqlite3.connect(database) as db:
        return dict(db.execute("select id, outcome from incidents_alert"))


def test_workers_racing_deliver_each_alert_once(project, receiver):
    env, database = project
    make_failures(env, 8, tasks_per_alert=3)  # 24 tasks for 8 alerts
    assert set(alert_outcomes(database).values()) == {"pending"}

    workers = [start_worker(env, "--once") for _ in range(3)]
    for worker in workers:
        output, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, output

    delivered = [body["id"] for body in receiver.bodies()]
    outcomes = alert_outcomes(database)
    assert sorted(delivered) == sorted(outcomes)  # every alert, each exactly once
    assert set(outcomes.values()) == {"sent"}
    for headers, body in receiver.requests:
        assert signing.verify(SECRET, headers["Kamustatus-Signature"], body)


def test_sigterm_finishes_and_exits(project, receiver):
    env, database = project
    worker = start_worker(env, "--interval", "0.1")
    try:
        assert "is running" in worker.stdout.readline()
        make_failures(env, 1)  # the running worker picks it up
        deadline = time.monotonic() + 20
        while set(alert_outcomes(database).values()) != {"sent"}:
            assert time.monotonic() < deadline, "the worker did not deliver"
            time.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0
    assert "worker stopped" in output
    assert len(receiver.requests) == 1


def settings_check(**env):
    base = environment(drop=("ALERT_", "EMAIL_"), SECRET_KEY=secret_key(), **env)
    return manage(base, "check", check=False)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ALERT_WEBHOOK_URL": "https://hooks.example.com/x"}, "needs ALERT_WEBHOOK_SECRET"),
        ({"ALERT_RETRY_DELAYS": "5,soon"}, "ALERT_RETRY_DELAYS must be"),
        ({"EMAIL_USE_TLS": "1", "EMAIL_USE_SSL": "1"}, "not both"),
    ],
)
def test_alert_settings_are_refused_when_they_cannot_work(env, message):
    result = settings_check(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_alert_settings_from_the_environment_start():
    result = settings_check(
        ALERT_EMAILS="ops@example.com, oncall@example.com",
        ALERT_WEBHOOK_URL="https://hooks.example.com/x",
        ALERT_WEBHOOK_SECRET="whsec_x",
        ALERT_RETRY_DELAYS="1,4",
        EMAIL_HOST="smtp.example.com",
    )
    assert result.returncode == 0, result.stderr


def test_sigterm_stops_a_worker_held_by_a_dripping_receiver(project, receiver):
    """The receiver answers 200 and then a byte every half second (100 s in
    all): the attempt is cut at its deadline (ALERT_WEBHOOK_TIMEOUT, 2 s
    here), recorded failed rather than sent, and SIGTERM ends the worker."""
    env, database = project
    receiver.drip = 0.5
    worker = start_worker({**env, "ALERT_WEBHOOK_TIMEOUT": "2"}, "--interval", "0.1")
    try:
        assert "is running" in worker.stdout.readline()
        make_failures(env, 1)
        deadline = time.monotonic() + 20
        while not receiver.requests:
            assert time.monotonic() < deadline, "the worker did not deliver"
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=15)  # not the 100 s of the drip
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0
    assert "sent" not in set(alert_outcomes(database).values())
    with sqlite3.connect(database) as db:
        errors = [row[0] for row in db.execute("select error from incidents_alertattempt")]
    assert errors and errors[0] == "timed out after 2s"
