"""``python manage.py worker``: all background work in one process.

- queued tasks (``incidents.queue``: alert deliveries and their retries);
- the periodic duties registered with ``incidents.queue.periodic_duty``, each
  when it is due: the ends of maintenance windows (alerts for monitors still
  failing; also at the moment a window ends by the clock) and deliveries whose
  worker died or whose task was lost. A window resolved early queues its own
  check;
- the background loops registered with ``incidents.queue.background_loop``,
  each in a thread of its own (the check scheduler).

SIGTERM or SIGINT finishes the current task and exits; a second Ctrl-C
(SIGINT) exits at once. Several workers may run side by side: deliveries and
window ends are claimed, so each happens once.
"""

import logging
import signal
import threading
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from incidents import queue

logger = logging.getLogger("incidents.worker")

RETRY_AFTER_ERROR = 5.0  # seconds
DRAIN_SECONDS = 120.0  # at most, for --once


def positive_seconds(value):
    seconds = float(value)
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(value)
    return seconds


class Command(BaseCommand):
    help = "Run the background work: queued tasks and the periodic duties."

    def add_arguments(self, parser):
        parser.add_argument(
            "--once",
            "--burst",
            action="store_true",
            dest="once",
            help="Run every periodic duty once, then every task that is due, then exit.",
        )
        parser.add_argument(
            "--interval",
            type=positive_seconds,
            default=1.0,
            help="Seconds to wait for new tasks when the queue is empty (default 1).",
        )
        parser.add_argument(
            "--edge-interval",
            "--duty-interval",
            type=positive_seconds,
            default=None,
            help="Seconds between runs of each periodic duty, such as the check for "
            "ended maintenance windows (default: each duty's own, 60).",
        )

    def handle(self, *, once, interval, edge_interval=None, **options):
        self.stopping = threading.Event()
        queue.discover()
        self.tasks = queue.TaskRunner(interval)
        if not once:
            self.install_signal_handlers()
            self.stdout.write(f"worker {self.tasks.worker_id} is running")
        loops = queue.background_loops()
        if once:
            for loop in loops:
                loop.once()
            running = []
        else:
            running = [loop.start() for loop in loops]
        duties = queue.duties()
        next_run = dict.fromkeys(duties, 0.0)
        while not self.stopping.is_set():
            for duty in duties:
                if time.monotonic() >= next_run[duty]:
                    duty.run_logged()
                    next_run[duty] = time.monotonic() + duty.seconds_to_next_run(edge_interval)
            if once:
                self.run_due_tasks()
                self.drain(duties)
                break
            try:
                self.run_due_tasks()
            except Exception:
                # The database went away, most likely: keep the process (and
                # its duties) alive and try again.
                logger.exception("running queued tasks failed; trying again shortly")
                self.stopping.wait(RETRY_AFTER_ERROR)
            close_old_connections()  # as a request would: drop broken or old connections
            self.stopping.wait(interval)
        for handle in running:
            handle.stop()  # lets the work under way finish
        if not once:
            self.stdout.write("worker stopped")

    def run_due_tasks(self):
        """Run queued tasks until none is due (or we are asked to stop)."""
        self.tasks.run_due(self.stopping)

    def drain(self, duties, bound=DRAIN_SECONDS):
        """For ``--once``: what is due now, within bounds. Duties that drain
        (subscriber deliveries) run again while they did something, since a
        retry they queued may fall due at once."""
        until = time.monotonic() + bound
        for duty in duties:
            if duty.drain:
                while duty.run_logged() and time.monotonic() < until:
                    pass

    def install_signal_handlers(self):
        def stop(signum, frame):
            if self.stopping.is_set():
                if signum == signal.SIGINT:
                    # Ctrl-C twice: stop now, even in the middle of a delivery
                    # (its claim goes stale and another run takes it over).
                    signal.signal(signum, signal.SIG_DFL)
                    signal.raise_signal(signum)
                return  # already finishing
            self.stdout.write(f"{signal.strsignal(signum)}: finishing the current task")
            self.stopping.set()  # the task loop ends after the current task

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
