"""The scheduler: claims, no drift, no lost schedule, no double runs — in
process, in the worker's own thread, and with two worker processes sharing
200 due checks (each must run exactly once per interval: the target counts
its hits)."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from incidents.checks.results import Outcome, record_outcomes
from incidents.checks.scheduler import CheckScheduler, claim_due_checks, next_slot
from incidents.models import Check, CheckResult
from tests.check_peers import http_target
from tests.servers import migrated_sqlite, secret_key

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def seconds(n):
    return timedelta(seconds=n)


def test_the_next_slot_stays_on_the_grid():
    assert next_slot(T0, 60, T0 + seconds(0.4)) == T0 + seconds(60)
    assert next_slot(T0, 60, T0 + seconds(59)) == T0 + seconds(60)
    # A worker that was away for five intervals runs once, then keeps the grid.
    assert next_slot(T0, 60, T0 + seconds(301)) == T0 + seconds(360)
    assert next_slot(T0, 60, T0 + seconds(300)) == T0 + seconds(360)


@pytest.fixture
def checks(make_monitor):
    made = []
    for number in range(3):
        monitor = make_monitor(check={"type": "tcp", "host": "db.example.com", "port": 5432,
                                      "interval": 60, "timeout": 10})  # fmt: skip
        made.append(monitor.pk)
    Check.objects.update(next_run_at=T0)
    return made


@pytest.mark.django_db
def test_a_claim_moves_the_schedule_by_the_interval_not_from_now(checks):
    claimed = claim_due_checks(T0 + seconds(0.7))
    assert sorted(check.pk for check in claimed) == sorted(checks)
    assert {check.scheduled_for for check in claimed} == {T0}
    assert set(Check.objects.values_list("next_run_at", flat=True)) == {T0 + seconds(60)}


@pytest.mark.django_db
def test_what_is_claimed_is_not_claimed_again(checks):
    assert len(claim_due_checks(T0, limit=2)) == 2
    assert len(claim_due_checks(T0)) == 1  # the third
    assert claim_due_checks(T0 + seconds(1)) == []  # nothing due until T0 + 60


@pytest.mark.django_db
def test_a_check_still_running_at_its_next_slot_is_not_run_twice(checks):
    claim_due_checks(T0)
    # No result yet at T0 + 60: the runs are still within their timeout + margin?
    # No: 60 s > 10 s + 5 s, so they count as abandoned (their worker died).
    assert len(claim_due_checks(T0 + seconds(60))) == 3
    Check.objects.update(timeout=60, next_run_at=T0 + seconds(120))
    claim_due_checks(T0 + seconds(120))
    Check.objects.update(running_until=T0 + seconds(185))
    assert claim_due_checks(T0 + seconds(180)) == []  # still running: that slot is skipped
    record_outcomes(
        [Outcome(monitor_id=pk, status="operational", checked_at=T0 + seconds(181))
         for pk in checks]
    )  # fmt: skip
    assert len(claim_due_checks(T0 + seconds(240))) == 3


@pytest.mark.django_db
def test_results_are_kept_with_the_slot_they_ran_for(checks):
    [check, *_] = claim_due_checks(T0 + seconds(0.2), limit=1)
    record_outcomes(
        [Outcome(check.pk, "operational", T0 + seconds(0.2), 12, None, check.scheduled_for)]
    )
    result = CheckResult.objects.get()
    assert (result.scheduled_for, result.response_time_ms) == (T0, 12)
    assert Check.objects.get(pk=check.pk).running_until is None


@pytest.mark.django_db(transaction=True)
def test_a_slow_target_does_not_hold_up_the_others(make_monitor, settings):
    settings.CHECKS_ALLOW_PRIVATE = True
    with http_target() as target:
        slow = make_monitor(check={"type": "http", "url": target.base + "/slow"})
        fast = make_monitor(check={"type": "http", "url": target.base + "/"})
        scheduler = CheckScheduler(tick=0.05)
        scheduler.start()
        try:
            deadline = time.monotonic() + 30
            while not CheckResult.objects.filter(monitor=fast).exists():
                assert time.monotonic() < deadline, "the fast check never ran"
                time.sleep(0.05)
            # The fast answer is in while the slow one (3 s) is still on its way.
            assert not CheckResult.objects.filter(monitor=slow).exists()
        finally:
            scheduler.stop()
        # Stopping let the slow check finish and kept its result.
        assert CheckResult.objects.get(monitor=slow).status == "operational"


def database_url(tmp_path):
    """The database the worker processes share: the test database itself on
    PostgreSQL (committed: a transactional test), a migrated file on SQLite."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        return f"postgres://{auth}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}", False
    return f"sqlite:///{tmp_path / 'workers.sqlite3'}", True


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_workers_run_each_of_200_checks_once_per_interval(tmp_path):
    url, needs_migrate = database_url(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update(DATABASE_URL=url, SECRET_KEY=secret_key(), DEBUG="0", CHECKS_ALLOW_PRIVATE="1",
               ALERT_EMAILS="", ALERT_WEBHOOK_URL="")  # fmt: skip

    def manage(*args):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                              check=True, capture_output=True, text=True, timeout=120)  # fmt: skip

    if needs_migrate:
        migrated_sqlite(tmp_path / "workers.sqlite3")
    with http_target() as target:
        manage(
            "shell",
            "-c",
            "from incidents.models import Check, Monitor\n"
            "for n in range(200):\n"
            f"    Monitor.create_monitor(name=f'S{{n}}', id=f'mon_s{{n:03d}}', check={{'type':"
            f" 'http', 'url': '{target.base}/hit/' + str(n), 'interval': 10, 'timeout': 5}})\n"
            "Check.objects.update(next_run_at='2100-01-01T00:00:00Z')\n",
        )
        workers = [
            subprocess.Popen([sys.executable, "manage.py", "worker"], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)
        ]  # fmt: skip
        try:
            for worker in workers:
                assert "is running" in worker.stdout.readline()
            # Both are up: every check falls due at one moment.
            start = datetime.now(UTC).replace(microsecond=0) + seconds(3)
            manage(
                "shell",
                "-c",
                "from incidents.models import Check\n"
                f"Check.objects.update(next_run_at='{start.isoformat()}')\n",
            )
            # Slots at start, +10 s and +20 s; stop halfway to the fourth.
            time.sleep(max(0.0, (start + seconds(25) - datetime.now(UTC)).total_seconds()))
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            outputs = [worker.communicate(timeout=60)[0] for worker in workers]
        hits = dict(target.hits)
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output
    assert len(hits) == 200, outputs
    assert set(hits.values()) == {3}, {path: n for path, n in hits.items() if n != 3}
