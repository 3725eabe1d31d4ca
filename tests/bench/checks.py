"""The checks rows of `make bench` (tests/bench/run.py calls ``stage_checks``
last, with gunicorn running; ``python tests/bench/checks.py`` runs them alone
on a fresh database).

- scheduling: ``--check-monitors`` (1,000) HTTP monitors at a 10 s interval
  against a local asyncio server, one ``manage.py worker`` for
  ``--check-seconds`` (60): lateness (start − slot) p50/p99 from the kept
  results, the worker's CPU as a share of one core (/proc), and missed runs
  (slots in the window without a result);
- ``/ping/<token>``: req/s with wrk, beside the static file in the same stage.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
INTERVAL = 10


def serve_target(port_file):
    """A minimal HTTP/1.1 server: 200 and a short body to every request."""

    async def answer(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line or line in (b"\r\n", b"\n"):
                    break
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(answer, "127.0.0.1", 0, backlog=4096)
        Path(port_file).write_text(str(server.sockets[0].getsockname()[1]))
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, -(-int(fraction * len(ordered) * 1000) // 1000) - 1)]


def measure_scheduling(workdir, monitors, seconds, log):
    from incidents.models import Check, CheckResult, Monitor

    port_file = Path(workdir) / "target-port"
    target = subprocess.Popen([sys.executable, __file__, "--serve-target", str(port_file)])
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline:
                raise SystemExit("bench: the check target did not start")
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port_file.read_text()}"
        log(f"checks: creating {monitors} HTTP monitors (every {INTERVAL} s)")
        for number in range(monitors):
            Monitor.create_monitor(
                id=f"mon_bench{number:05d}",
                name=f"Checked {number}",
                check={"type": "http", "url": f"{base}/{number}", "interval": INTERVAL,
                       "timeout": 5},
            )  # fmt: skip
        # Nothing due until the worker is up and the slots are laid out.
        Check.objects.update(next_run_at=datetime(2100, 1, 1, tzinfo=UTC))
        env = {**os.environ, "CHECKS_ALLOW_PRIVATE": "1"}
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "worker"], cwd=ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            worker.stdout.readline()  # "worker … is running"
            # Slots spread evenly over the interval, from a moment just ahead.
            start = datetime.now(UTC) + timedelta(seconds=2)
            step = timedelta(seconds=INTERVAL) / monitors
            Check.objects.bulk_update(list_with_slots(start, step), ["next_run_at"])
            time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()))
            cpu_before, wall_before = cpu_seconds(worker.pid), time.monotonic()
            log(f"checks: the worker runs them for {seconds} s")
            time.sleep(seconds)
            cpu = cpu_seconds(worker.pid) - cpu_before
            wall = time.monotonic() - wall_before
        finally:
            worker.send_signal(signal.SIGTERM)
            output = worker.communicate(timeout=60)[0]
        end = start + timedelta(seconds=seconds)
        # Slots due within the window; each should have exactly one result.
        # Slots due within the window (monitor n's: start + n × step + k × 10 s);
        # each should have exactly one result.
        window, period = timedelta(seconds=seconds), timedelta(seconds=INTERVAL)
        expected = sum(-(-(window - n * step) // period) for n in range(monitors))
        found = list(
            CheckResult.objects.filter(scheduled_for__gte=start, scheduled_for__lt=end).values_list(
                "scheduled_for", "checked_at", "status"
            )
        )
        lateness = [(checked - slot).total_seconds() * 1000 for slot, checked, _ in found]
        failed = sum(1 for _slot, _checked, status in found if status != "operational")
        return {
            "monitors": monitors,
            "seconds": seconds,
            "expected_runs": expected,
            "runs": len(found),
            "missed_runs": max(0, expected - len(found)),
            "failed_runs": failed,
            "lateness_p50_ms": round(percentile(lateness, 0.5) or 0, 1),
            "lateness_p99_ms": round(percentile(lateness, 0.99) or 0, 1),
            "lateness_max_ms": round(max(lateness, default=0), 1),
            "worker_cpu_share": round(cpu / wall, 3),
            "worker_errors_logged": output.count("Traceback"),
        }
    finally:
        target.terminate()
        target.wait(timeout=10)


def list_with_slots(start, step):
    from incidents.models import Check

    checks = list(Check.objects.order_by("pk"))
    for number, check in enumerate(checks):
        check.next_run_at = start + number * step
    return checks


def stage_checks(bench, size, static_path, schedule=True):
    """The checks rows, measured with the bench's gunicorn running; the
    scheduling row only when ``schedule`` (one column per database: it
    measures the worker, not the web server)."""
    from incidents.models import Monitor

    heartbeat = Monitor.create_monitor(
        id="mon_benchping", name="Bench heartbeat",
        check={"type": "heartbeat", "period": 86_400, "grace": 3_600},
    )  # fmt: skip
    token = heartbeat.health_check.ping_token
    bench.measure("static_checks", "static file (stage: checks)", static_path, size,
                  baseline="static_checks")  # fmt: skip
    bench.measure("ping", "/ping/<token> (heartbeat)", f"/ping/{token}", size,
                  baseline="static_checks")  # fmt: skip
    if not schedule:
        return
    figures = measure_scheduling(bench.workdir, bench.args.check_monitors,
                                 bench.args.check_seconds, bench_log)  # fmt: skip
    note = (
        f"{figures['monitors']:,} HTTP monitors every {INTERVAL} s for {figures['seconds']} s: "
        f"lateness p50 {figures['lateness_p50_ms']} ms, p99 {figures['lateness_p99_ms']} ms "
        f"(max {figures['lateness_max_ms']} ms); worker CPU "
        f"{figures['worker_cpu_share'] * 100:.0f}% of a core; missed runs "
        f"{figures['missed_runs']} of {figures['expected_runs']:,}; failed runs "
        f"{figures['failed_runs']}"
    )
    bench_log(f"checks: {note}")
    bench.row("check_schedule", "scheduled HTTP checks", size, status="measured", note=note,
              checks=figures)  # fmt: skip


def bench_log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def check_targets(by_key):
    """Lateness p99 < 1 s and no missed run (reported, never asserted)."""
    row = by_key.get("check_schedule")
    figures = row.get("checks") if row else None
    if not figures:
        return [{"target": "check lateness p99 < 1000 ms, 0 missed runs", "value": None,
                 "met": False}]  # fmt: skip
    return [
        {"target": "check lateness p99 < 1000 ms", "value": figures["lateness_p99_ms"],
         "met": figures["lateness_p99_ms"] < 1000},
        {"target": "missed check runs = 0", "value": figures["missed_runs"],
         "met": figures["missed_runs"] == 0},
    ]  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-target":
        serve_target(sys.argv[2])
    else:
        sys.path.insert(0, str(HERE))
        import run

        sys.exit(run.main([*sys.argv[1:], "--checks-only"]))
