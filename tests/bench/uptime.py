"""The uptime stage of `make bench` (run.py invokes it; it also runs alone).

``/`` rendered fresh after a write — a monitor renamed through the domain, or
an incident's title changed (a PATCH), so the stored page is out of date —
with 50 monitors × 90 days of history, in this process through Django's test
client (no gunicorn: what is measured is the render), in a fresh database of
its own:

- *before*: the page without the uptime bars (as before issue 15);
- *after*: with the bars, after a monitor renamed;
- *after an incident PATCH*: with the bars, after an incident naming one
  monitor got a new title (its card and that monitor's bars change);
- *after, cold*: with the bars, every closed day computed from the
  transitions (the roll-ups deleted and this process's kept days forgotten
  first: the first render ever, or after ``rebuild_uptime``).

The closed days of monitors whose transitions, windows and dates did not
change are kept by the process (incidents/uptime/history.py, kept_history),
so *after* and *after an incident PATCH* read none of them again.

Median render time and the queries of one render, side by side in one run.

Usage: ``python tests/bench/uptime.py [--monitors 50] [--per-day 4] [--samples 20]``.
"""

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402 (this directory)

ROOT = bench.ROOT


def fill(monitors, per_day, days=90):
    """``monitors`` monitors created ``days`` + 1 days ago, each with
    ``per_day`` transitions a day (short outages and slow spells)."""
    from incidents.models import Monitor, MonitorStatusChange

    now = datetime.now(UTC).replace(microsecond=0)
    created = now - timedelta(days=days + 1)
    Monitor.objects.bulk_create(
        Monitor(id=f"mon_up{n:03d}", name=f"Service {n}", created_at=created)
        for n in range(monitors)
    )
    step = timedelta(days=days) / (per_day * days)
    rows = []
    for n in range(monitors):
        state = "operational"
        for index in range(per_day * days):
            new = "operational" if state != "operational" else ("down", "degraded")[index % 4 == 1]
            at = created + timedelta(days=1) + step * index + timedelta(seconds=n)
            rows.append(
                MonitorStatusChange(
                    monitor_id=f"mon_up{n:03d}", from_status=state, to_status=new, created_at=at
                )
            )
            state = new
        Monitor.objects.filter(pk=f"mon_up{n:03d}").update(status=state)
    MonitorStatusChange.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


def write(kind, number):
    """What makes the stored page out of date: a monitor renamed, or an
    incident (naming one monitor) retitled as a PATCH would."""
    from incidents.models import Incident, Monitor

    if kind == "incident":
        incident = Incident.objects.get(title__startswith="Slow answers")
        incident.change(title=f"Slow answers ({number})", notify=False)
    else:
        Monitor.objects.get(pk="mon_up000").change(name=f"Service 0 ({number})")


def render_once(client, write_number, kind="monitor"):
    """One write, then one fresh render: (milliseconds, queries)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    write(kind, write_number)
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get("/")
        elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.status_code
    return elapsed, len(queries.captured_queries), response.content


def measure_side(client, samples, before=False, cold=False, kind="monitor"):
    from unittest import mock

    from incidents.pages import views
    from incidents.uptime import history
    from incidents.uptime.models import UptimeDay

    times, queries = [], []
    patch = mock.patch.object(views, "strips", lambda monitors, now: ({}, None))
    with patch if before else mock.MagicMock():
        for number in range(samples):
            if cold:
                UptimeDay.objects.all().delete()
                history.forget_kept()
            elapsed, count, body = render_once(client, number, kind)
            times.append(elapsed)
            queries.append(count)
    bars = body.count(b'<li class="bar-')
    return {
        "p50_ms": round(statistics.median(times), 1),
        "max_ms": round(max(times), 1),
        "queries": max(queries),
        "bars": bars,
        "bytes": len(body),
    }


def measure(args, workdir):
    with bench.FreshDatabase(os.environ.get("DATABASE_URL", ""), workdir) as database:
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "statuspage.settings",
                "DATABASE_URL": database.url,
                "SECRET_KEY": secrets.token_urlsafe(50),
                "DEBUG": "0",
                "ALLOWED_HOSTS": "testserver,127.0.0.1",
                "STATIC_ROOT": str(workdir / "static"),
                "LAST_GOOD_DIR": str(workdir / "last-good"),
                "LOG_LEVEL": "WARNING",
            }
        )
        os.environ.pop("REDIS_URL", None)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        call_command("migrate", verbosity=0, interactive=False)
        call_command("createcachetable", verbosity=0)
        call_command("collectstatic", verbosity=0, interactive=False)
        transitions = fill(args.monitors, args.per_day)
        from incidents.models import Incident

        Incident.open_incident(title="Slow answers", message="Looking.", monitor_ids=["mon_up001"])
        bench.log(f"uptime: {args.monitors} monitors, {transitions:,} transitions over 90 days")
        client = Client()
        client.get("/")  # templates loaded, roll-ups written
        try:
            result = {
                "monitors": args.monitors,
                "days": 90,
                "transitions": transitions,
                "before": measure_side(client, args.samples, before=True),
                "after": measure_side(client, args.samples),
                "after_incident": measure_side(client, args.samples, kind="incident"),
                "after_cold": measure_side(client, max(3, args.samples // 4), cold=True),
                "database": database.describe(),
            }
        finally:
            connection.close()  # before the database is dropped
    result["render_ratio"] = round(result["after"]["p50_ms"] / result["before"]["p50_ms"], 2)
    return result


def markdown(result):
    if result.get("status") == "failed":
        return "Uptime stage: failed (see the log above)."
    lines = [
        f"`/` rendered fresh after a write, {result['monitors']} monitors × {result['days']} "
        f"days ({result['transitions']:,} transitions), {result['database']}:",
        "",
        "| | render p50 | max | queries | bars | bytes |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, label in [
        ("before", "before (no bars)"),
        ("after", "after (a monitor renamed)"),
        ("after_incident", "after an incident PATCH"),
        ("after_cold", "after, cold (every closed day computed)"),
    ]:
        side = result[key]
        lines.append(
            f"| {label} | {side['p50_ms']} ms | {side['max_ms']} ms | {side['queries']} | "
            f"{side['bars']} | {side['bytes']:,} |"
        )
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--monitors", type=int, default=50)
    parser.add_argument("--per-day", type=int, default=4, help="transitions per monitor a day")
    parser.add_argument("--samples", type=int, default=20, help="fresh renders per side (20)")
    parser.add_argument("--output", help="write the result as JSON here")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="kamustatus-bench-uptime-"))
    result = measure(args, workdir)
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
