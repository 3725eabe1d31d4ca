"""The subscribers stage of `make bench` (run.py invokes it; it also runs alone).

1. a fresh database (as run.py makes one), gunicorn as in production, and a
   local SMTP sink (aiosmtpd, counting what it accepts) in this process;
2. the time of the web request that posts an update, sampled sequentially
   with no subscribers and again with N confirmed subscribers (10,000 by
   default) — the same request writes the same one outbox row either way, so
   the ratio should stay near 1;
3. one incident update that touches all N subscribers, with one
   ``manage.py worker`` running: seconds from posting it until the sink has
   accepted the last mail, the worker's peak memory (VmHWM), and a check that
   no address got the mail twice.

Usage: ``python tests/bench/subscribers.py [--subscribers N] [--output FILE]``.
"""

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as bench  # noqa: E402 (this directory)

ROOT = bench.ROOT


class CountingSink:
    """An aiosmtpd handler that only counts: the bench measures the sender."""

    def __init__(self):
        self.lock = threading.Lock()
        self.count = 0
        self.recipients = set()
        self.last_at = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.count += 1
            self.recipients.update(envelope.rcpt_tos)
            self.last_at = time.monotonic()
        return "250 OK"


def request_ms(port, method, path, body, key):
    started = time.perf_counter()
    status, _headers, _body = bench.fetch(port, method, path, {"x-api-key": key}, body)
    elapsed = (time.perf_counter() - started) * 1000
    if status not in (200, 201):
        raise SystemExit(f"bench: {method} {path} answered {status}")
    return elapsed


def sample_updates(port, key, incident_id, samples):
    """Sequential PATCHes that each append an update (and write an outbox row)."""
    path = f"/api/incidents/{incident_id}"
    for _ in range(3):  # warm every connection and cache first
        request_ms(port, "PATCH", path, {"message": "warm-up"}, key)
    times = [
        request_ms(port, "PATCH", path, {"message": f"sample {n}"}, key) for n in range(samples)
    ]
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p90_ms": round(sorted(times)[int(0.9 * (len(times) - 1))], 1),
    }


def add_subscribers(count, monitor_id):
    from incidents.subscribers.models import Subscriber, SubscriberMonitor

    # Confirmed now: after the events already recorded, so only the update to
    # come is theirs.
    confirmed = datetime.now(UTC)
    subscribers = [
        Subscriber(
            id=f"sub_bench{n:07d}",
            email=f"subscriber{n:06d}@example.com",
            all_monitors=False,
            confirmed_at=confirmed,
        )
        for n in range(count)
    ]
    Subscriber.objects.bulk_create(subscribers, batch_size=2000)
    SubscriberMonitor.objects.bulk_create(
        [SubscriberMonitor(subscriber=s, monitor_id=monitor_id) for s in subscribers],
        batch_size=2000,
    )


def peak_memory_mb(pid):
    """The process's peak resident memory (Linux), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def measure(args, workdir):
    from aiosmtpd.controller import Controller

    counter = CountingSink()
    smtp_port = bench.free_port()
    controller = Controller(counter, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    with bench.FreshDatabase(os.environ.get("DATABASE_URL", ""), workdir) as database:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "statuspage.settings",
            "DATABASE_URL": database.url,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "STATIC_ROOT": str(workdir / "static"),
            "LAST_GOOD_DIR": str(workdir / "last-good"),
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_port),
            "EMAIL_USE_TLS": "0",
            "EMAIL_USE_SSL": "0",
            "LOG_LEVEL": "WARNING",
        }
        for name in ("PORT", "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS", "REDIS_URL"):
            env.pop(name, None)
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from io import StringIO

        from django.core.management import call_command
        from django.db import connection

        from incidents.models import Incident, Monitor

        call_command("migrate", verbosity=0, interactive=False)
        call_command("collectstatic", verbosity=0, interactive=False)
        out = StringIO()
        call_command("createapikey", "bench", stdout=out)
        key = out.getvalue().strip().splitlines()[-1]
        Monitor.create_monitor(name="Subscribed", id="mon_bench")
        Monitor.create_monitor(name="Other", id="mon_other")
        # One incident per side, so both sides PATCH a timeline of the same length.
        others = [
            Incident.open_incident(title=f"Other {n}", message="x", monitor_ids=["mon_other"])
            for n in range(2)
        ]
        target = Incident.open_incident(title="Bench", message="x", monitor_ids=["mon_bench"])
        connection.close()

        server = bench.Server(env, args.workers, workdir / "gunicorn.log")
        server.start("/api/openapi.json")
        worker = None
        try:
            bench.log(f"subscribers: posting {args.samples} updates with no subscribers")
            without = sample_updates(server.port, key, others[0].pk, args.samples)
            bench.log(f"subscribers: adding {args.subscribers:,} confirmed subscribers")
            add_subscribers(args.subscribers, "mon_bench")
            connection.close()
            with_subscribers = sample_updates(server.port, key, others[1].pk, args.samples)
            worker = subprocess.Popen(
                [sys.executable, "manage.py", "worker", "--interval", "0.2"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=open(workdir / "worker.log", "wb"),  # noqa: SIM115
            )
            time.sleep(2)  # the worker is up and has fanned out the samples' events
            bench.log("subscribers: one update for all of them")
            started = time.monotonic()
            post_ms = request_ms(
                server.port, "PATCH", f"/api/incidents/{target.pk}", {"message": "Bench"}, key
            )
            deadline = started + args.timeout
            while counter.count < args.subscribers and time.monotonic() < deadline:
                if worker.poll() is not None:
                    raise SystemExit("bench: the worker exited; see worker.log")
                time.sleep(0.05)
            delivered_s = round(counter.last_at - started, 1) if counter.last_at else None
            peak = peak_memory_mb(worker.pid)
            described = database.describe()
        finally:
            if worker is not None and worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=60)
            server.stop()
            controller.stop()
            connection.close()  # before the database is dropped
    return {
        "subscribers": args.subscribers,
        "mails_accepted": counter.count,
        "distinct_recipients": len(counter.recipients),
        "seconds_to_last_mail": delivered_s,
        "mails_per_second": round(counter.count / delivered_s) if delivered_s else None,
        "worker_peak_mb": peak,
        "post_update_ms": round(post_ms, 1),
        "update_without_subscribers": without,
        "update_with_subscribers": with_subscribers,
        "update_p50_ratio": round(with_subscribers["p50_ms"] / without["p50_ms"], 2),
        "database": described,
    }


def markdown(result):
    if result.get("status") == "failed":
        return "Subscribers stage: failed (see the log above)."
    ok = result["mails_accepted"] == result["distinct_recipients"] == result["subscribers"]
    return "\n".join(
        [
            "| subscribers | last mail accepted after | mails/s | worker peak | "
            "update p50 without → with subscribers | ratio | each mail once |",
            "|---:|---:|---:|---:|---|---:|---|",
            f"| {result['subscribers']:,} | {result['seconds_to_last_mail']} s | "
            f"{result['mails_per_second']} | {result['worker_peak_mb']} MiB | "
            f"{result['update_without_subscribers']['p50_ms']} ms → "
            f"{result['update_with_subscribers']['p50_ms']} ms | "
            f"{result['update_p50_ratio']} | {'yes' if ok else '**no**'} |",
        ]
    )


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=30, help="timed updates per side (30)")
    parser.add_argument("--workers", type=int, default=2 * bench.cpu_count())
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for mail")
    parser.add_argument("--output", help="write the result as JSON here")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="kamustatus-bench-subscribers-"))
    try:
        result = measure(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
