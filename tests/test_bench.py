"""`make bench --quick` end to end, so the benchmark cannot rot.

One backend column (SQLite; PostgreSQL when the session's DATABASE_URL names
it), not all three: the columns are the same code. Asserts that every row was
measured and answered correctly — never how fast: speed is reported by `make
bench` as ratios, not asserted.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

MEASURED_ROWS = [
    "static_small",
    "page_small",
    "list_small",
    "static",
    "page",
    "page_htmx",
    "page_304",
    "page_de",
    "incident_page",
    "statuspage_json",
    "badge",
    "api_list",
    "api_detail",
    "storm",
    "writes",
    "static_large",
    "page_large",
    "list_large",
    "static_checks",
    "ping",
]
INFORMATION_ROWS = ["check_schedule"]  # figures, not req/s (tests/bench/checks.py)


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install -y wrk)")
    output = tmp_path_factory.mktemp("bench") / "bench-results.json"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    backend = "postgres" if env.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    # Each gunicorn thread keeps a PostgreSQL connection: with 64 threads a
    # worker the run came to 92 of the server's 100, and the tests running
    # beside it (30 parallel writers in tests/test_write_races.py) got "too
    # many clients" (503). Eight a worker answer wrk's connections all the same.
    env["WEB_THREADS"] = "8"
    # Every row for 1 s and the checks for 6 s: whether each row answers is
    # asked here, not how fast (make bench measures that).
    command = [sys.executable, str(ROOT / "tests/bench/run.py"), "--quick",
               "--duration", "1", "--check-seconds", "6",
               "--backends", backend, "--output", str(output)]  # fmt: skip
    completed = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(output.read_text())
    [column] = results["columns"]
    assert column["status"] == "ok", column
    return results, column, completed.stdout


@pytest.mark.slow
def test_every_row_is_measured_without_errors(quick_results):
    _results, column, _table = quick_results
    rows = {row["key"]: row for row in column["rows"]}
    assert list(rows) == MEASURED_ROWS + INFORMATION_ROWS
    checks = rows.pop("check_schedule")["checks"]
    assert checks["runs"] > 0 and checks["worker_errors_logged"] == 0
    assert checks["failed_runs"] == 0
    for key, row in rows.items():
        assert row["status"] == "ok", f"{key}: {row['note']}"
        assert row["requests"] > 0 and row["rps"] > 0, key
        assert row["non_2xx_3xx"] == 0, f"{key}: {row['errors']}"
        assert row["errors"]["timeout"] == 0, key
        assert row["ratio"] is not None, key
    for static in ("static_small", "static", "static_large", "static_checks"):
        assert rows[static]["ratio"] == 1.0


@pytest.mark.slow
def test_writes_are_create_then_resolve_pairs_and_never_locked(quick_results):
    _results, column, _table = quick_results
    writes = next(row for row in column["rows"] if row["key"] == "writes")
    assert writes["patched"] > 0
    assert set(writes["statuses"]) <= {"200", "201"}, writes["statuses"]
    # Every PATCH resolved an incident its own POST created.
    assert writes["created"] >= writes["patched"]
    assert column["database_is_locked"] == 0
    assert column["server_errors_logged"] == 0
    counts = column["query_counts"]
    assert counts["create"] > 0 and counts["resolve"] > 0 and counts["page_unchanged"] >= 0


@pytest.mark.slow
def test_refresh_storm_never_shows_a_stale_page(quick_results):
    _results, column, _table = quick_results
    storm = next(row for row in column["rows"] if row["key"] == "storm")["storm"]
    assert storm["writes"] > 0 and storm["samples"] > 0
    assert storm["write_errors"] == 0 and storm["check_errors"] == 0
    assert storm["stale"] == 0, f"{storm['stale']} of {storm['samples']} checked pages were stale"
    assert storm["cleanup_delete_status"] == 204


@pytest.mark.slow
def test_the_table_and_targets_are_reported(quick_results):
    results, column, table = quick_results
    assert results["config"]["profile"] == "quick"
    assert "| static file (whitenoise) | 300 |" in table
    assert f"| what | incidents | {column['name']} req/s | × static | p99 ms |" in table
    assert results["machine"]["nproc"] >= 1
    # Each target computed from this column's own figures, met or missed.
    figures = {row["target"]: row["columns"][column["name"]] for row in results["targets"]}
    keys = {figure["key"] for figure in figures.values()}
    assert keys >= {"page", "storm", "api_list", "api_detail", "scale_page", "writes"}
    for target, figure in figures.items():
        assert figure["value"] is not None, target
        if figure["minimum"] is not None:
            assert isinstance(figure["met"], bool), target
            assert f"| {target} | {figure['value']}" in table
    page = next(figure for figure in figures.values() if figure["key"] == "page")
    assert page["met"] == (page["value"] >= page["minimum"])


@pytest.mark.slow
def test_the_subscribers_stage_mails_each_subscriber_once(quick_results):
    _results, column, table = quick_results
    mail = column["subscribers"]
    assert mail["status"] == "ok"
    assert mail["mails_accepted"] == mail["distinct_recipients"] == mail["subscribers"] == 300
    assert mail["seconds_to_last_mail"] > 0 and mail["worker_peak_mb"] > 0
    assert mail["update_p50_ratio"] > 0
    assert "| subscribers | last mail accepted after |" in table


@pytest.mark.slow
def test_the_uptime_stage_renders_the_bars_before_and_after(quick_results):
    _results, column, table = quick_results
    uptime = column["uptime"]
    assert uptime["status"] == "ok"
    assert uptime["monitors"] == 50 and uptime["transitions"] == 50 * 90 * 4
    assert uptime["before"]["bars"] == 0
    assert uptime["after"]["bars"] == uptime["after_cold"]["bars"] == 50 * 90
    assert uptime["after_incident"]["bars"] == 50 * 90
    assert uptime["before"]["p50_ms"] > 0 and uptime["after"]["p50_ms"] > 0
    assert "| after (a monitor renamed) |" in table
    assert "| after an incident PATCH |" in table


def test_a_backend_whose_server_does_not_answer_is_skipped_not_failed(tmp_path):
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install -y wrk)")
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{port}/postgres"
    output = tmp_path / "bench-results.json"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "tests/bench/run.py"), "--quick",
         "--backends", "postgres,postgres+redis", "--output", str(output)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    columns = json.loads(output.read_text())["columns"]
    assert [(column["name"], column["status"]) for column in columns] == [
        ("PostgreSQL", "skipped"),
        ("PostgreSQL + Redis", "skipped"),
    ]
    assert f"- PostgreSQL: skipped — PostgreSQL at 127.0.0.1:{port} does not answer" in (
        completed.stdout
    )
