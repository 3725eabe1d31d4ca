"""``python manage.py worker``: all background work in one process.

- queued tasks (django-tasks, database backend: alert deliveries and their
  retries), run through django-tasks-db's worker;
- every ``--edge-interval`` seconds (a minute by default), and at the moment
  a maintenance window ends by the clock: the ends of maintenance windows
  (alerts for monitors still failing) and deliveries whose worker died or
  whose task was lost. A window resolved early queues its own check.

SIGTERM or SIGINT finishes the current task and exits; a second Ctrl-C
(SIGINT) exits at once. Several workers may run side by side: deliveries and window ends are
claimed, so each happens once.
"""

import logging
import signal
import threading
import time

from django.core.management.base import BaseCommand
from django.db import OperationalError, close_old_connections
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from incidents.alerts.models import Alert, WindowEnd
from incidents.alerts.tasks import deliver_alert
from incidents.models import Incident
from incidents.subscribers import fanout as subscriber_fanout
from incidents.subscribers.outbox import notice_window_edges

logger = logging.getLogger("incidents.worker")

RETRY_AFTER_ERROR = 5.0  # seconds


def positive_seconds(value):
    seconds = float(value)
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(value)
    return seconds


class Command(BaseCommand):
    help = "Run the background work: alert deliveries and maintenance window ends."

    def add_arguments(self, parser):
        parser.add_argument(
            "--once",
            "--burst",
            action="store_true",
            dest="once",
            help="Check window ends once, run every task that is due, then exit.",
        )
        parser.add_argument(
            "--interval",
            type=positive_seconds,
            default=1.0,
            help="Seconds to wait for new tasks when the queue is empty (default 1).",
        )
        parser.add_argument(
            "--edge-interval",
            type=positive_seconds,
            default=60.0,
            help="Seconds between checks for ended maintenance windows (default 60).",
        )

    def handle(self, *, once, interval, edge_interval, **options):
        self.stopping = threading.Event()
        # django-tasks-db's worker runs each task (and records its result);
        # the loop around it is ours, so that one process does all the work.
        self.tasks = Worker(
            queue_names=["*"],
            excluded_queue_names=[],
            interval=interval,
            batch=True,
            backend_name=DEFAULT_TASK_BACKEND_ALIAS,
            startup_delay=False,
            max_tasks=None,
            worker_id=get_random_string(32),
        )
        if not once:
            self.install_signal_handlers()
            self.stdout.write(f"worker {self.tasks.worker_id} is running")
        next_edge_check = 0.0
        while not self.stopping.is_set():
            if time.monotonic() >= next_edge_check:
                self.check_edges()
                next_edge_check = time.monotonic() + self.seconds_to_next_check(edge_interval)
            if once:
                self.run_due_tasks()
                # What is due now, within bounds: retries may fall due again at once.
                until = time.monotonic() + 120
                while self.run_subscriber_duties() and time.monotonic() < until:
                    pass
                break
            try:
                self.run_due_tasks()
                self.run_subscriber_duties()  # issue 16; a duty of incidents/queue.py at merge
            except Exception:
                # The database went away, most likely: keep the process (and
                # its window checks) alive and try again.
                logger.exception("running queued tasks failed; trying again shortly")
                self.stopping.wait(RETRY_AFTER_ERROR)
            close_old_connections()  # as a request would: drop broken or old connections
            self.stopping.wait(interval)
        if not once:
            self.stdout.write("worker stopped")

    def run_due_tasks(self):
        """Run queued tasks until none is due (or we are asked to stop),
        claiming each as django-tasks-db's own worker does."""
        while not self.stopping.is_set():
            # ready() reads the clock: a retry queued by the last task may be due.
            ready = DBTaskResult.objects.ready().filter(backend_name=self.tasks.backend_name)
            try:
                with exclusive_transaction(ready.db):
                    task_result = ready.get_locked()
                    if task_result is not None:
                        task_result.claim(self.tasks.worker_id)
            except OperationalError as error:
                if is_locked_database_exception(error):
                    return  # another worker is claiming; try again after the pause
                raise
            if task_result is None:
                return
            self.tasks.run_task(task_result)

    def run_subscriber_duties(self):
        """Fan out subscribers' events and send their due mail and webhooks
        (issue 16), for a few seconds at most so the loop's other duties and
        a stop request wait no longer. Returns how many deliveries were handled."""
        if self.stopping.is_set():
            return 0
        return subscriber_fanout.run(self.tasks.worker_id, budget_seconds=5.0)

    def seconds_to_next_check(self, edge_interval):
        """At most ``edge_interval``, sooner when a window ends by the clock
        before that (an early resolution queues its own check)."""
        try:
            now = timezone.now()
            edge = Incident.objects.next_maintenance_edge(now)
        except Exception:
            logger.exception("could not read the next maintenance edge")
            return edge_interval
        if edge is None:
            return edge_interval
        return min(edge_interval, max(0.0, (edge - now).total_seconds()) + 0.01)

    def check_edges(self):
        """Window ends, and deliveries to queue again. A failure is logged and
        retried at the next check rather than stopping the deliveries."""
        try:
            alerts = WindowEnd.objects.process_due()
            if alerts:
                logger.info("maintenance over: %d alert(s) for monitors still failing", len(alerts))
            # --- issue 16: subscribers; duties of incidents/queue.py at merge ---
            events = notice_window_edges()
            if events:
                logger.info("maintenance edges: %d event(s) for subscribers", len(events))
            lapsed = subscriber_fanout.forget_lapsed()
            if lapsed:
                logger.info("forgot %d unconfirmed subscription(s) after 48 hours", lapsed)
            # --- end of issue 16 ---
            requeued = self.requeue_stranded()
            if requeued:
                logger.warning("queued %d stranded alert delivery(ies) again", requeued)
        except Exception:
            logger.exception("checking maintenance window ends failed")

    def requeue_stranded(self):
        stranded = list(Alert.objects.stranded().values_list("pk", flat=True)[:500])
        if not stranded:
            return 0
        waiting = DBTaskResult.objects.filter(
            task_path=deliver_alert.module_path,
            status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
        ).values_list("args_kwargs", flat=True)
        queued = {args["args"][0] for args in waiting if args.get("args")}
        count = 0
        for alert in Alert.objects.filter(pk__in=stranded).exclude(pk__in=queued):
            alert.queue_delivery(run_after=max(alert.next_attempt_at, timezone.now()))
            count += 1
        return count

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
