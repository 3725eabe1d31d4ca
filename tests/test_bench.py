"""`make bench --quick` end to end, so the benchmark cannot rot.

Asserts that every row was measured and answered correctly — never how fast:
speed is reported by `make bench` as ratios, not asserted.
"""

import json
import os
import shutil
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
    "page_de",
    "page_304",
    "incident_page",
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
    completed = subprocess.run(
        [sys.executable, str(ROOT / "tests/bench/run.py"), "--quick", "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(output.read_text()), completed.stdout


@pytest.mark.slow
def test_every_row_is_measured_without_errors(quick_results):
    results, _table = quick_results
    rows = {row["key"]: row for row in results["rows"]}
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
    results, _table = quick_results
    writes = next(row for row in results["rows"] if row["key"] == "writes")
    assert writes["patched"] > 0
    assert set(writes["statuses"]) <= {"200", "201"}, writes["statuses"]
    # Every PATCH resolved an incident its own POST created.
    assert writes["created"] >= writes["patched"]
    assert results["database_is_locked"] == 0
    assert results["server_errors_logged"] == 0


@pytest.mark.slow
def test_refresh_storm_never_shows_a_stale_page(quick_results):
    results, _table = quick_results
    storm = next(row for row in results["rows"] if row["key"] == "storm")["storm"]
    assert storm["writes"] > 0 and storm["samples"] > 0
    assert storm["write_errors"] == 0 and storm["check_errors"] == 0
    assert storm["stale"] == 0, f"{storm['stale']} of {storm['samples']} checked pages were stale"
    assert storm["cleanup_delete_status"] == 204


@pytest.mark.slow
def test_the_table_and_targets_are_reported(quick_results):
    results, table = quick_results
    assert results["config"]["profile"] == "quick"
    assert "| static file (whitenoise) |" in table
    assert results["machine"]["nproc"] >= 1
    assert {check["target"].split(" ")[0] for check in results["targets"]} >= {"page:", "list:"}
    assert all(check["value"] is not None for check in results["targets"])


@pytest.mark.slow
def test_the_subscribers_stage_mails_each_subscriber_once(quick_results):
    results, table = quick_results
    mail = results["subscribers"]
    assert mail["status"] == "ok"
    assert mail["mails_accepted"] == mail["distinct_recipients"] == mail["subscribers"] == 300
    assert mail["seconds_to_last_mail"] > 0 and mail["worker_peak_mb"] > 0
    assert mail["update_p50_ratio"] > 0
    assert "| subscribers | last mail accepted after |" in table


@pytest.mark.slow
def test_the_uptime_stage_renders_the_bars_before_and_after(quick_results):
    results, table = quick_results
    uptime = results["uptime"]
    assert uptime["status"] == "ok"
    assert uptime["monitors"] == 50 and uptime["transitions"] == 50 * 90 * 4
    assert uptime["before"]["bars"] == 0
    assert uptime["after"]["bars"] == uptime["after_cold"]["bars"] == 50 * 90
    assert uptime["before"]["p50_ms"] > 0 and uptime["after"]["p50_ms"] > 0
    assert "| after (roll-ups) |" in table
