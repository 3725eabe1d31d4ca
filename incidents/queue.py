"""The task queue, and the worker's registry of periodic duties.

Nothing else in the project touches django-tasks or django-tasks-db: a module
declares its queued work with ``task``, queues it with ``enqueue``, and
declares work that must happen on a schedule with ``periodic_duty``. The one
worker loop (``manage.py worker``) runs the duties when they are due and the
queued tasks in between; adding a duty is adding a function::

    @periodic_duty(every=60)
    def requeue_stranded_deliveries():
        ...

A duty may also say when it must run sooner (``wake_at(now)`` -> a moment or
None: the end of a maintenance window, say). Duties must be safe to run in
several workers at once — they claim what they work on — and to run again
after a failure, which is logged and retried at the next run.
"""

import logging
from dataclasses import dataclass

from django.db import OperationalError, transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.module_loading import autodiscover_modules
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, TaskResultStatus, task
from django_tasks_db import DatabaseBackend
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

logger = logging.getLogger("incidents.worker")

__all__ = ["task", "enqueue", "waiting_args", "TaskRunner", "periodic_duty", "duties", "discover"]


# --- Queued tasks ----------------------------------------------------------------


def enqueue(task, *args, run_after=None):
    """Queue a task. With the database task backend the task row is written
    in the caller's transaction, so it exists exactly when what it works on
    does; any other backend gets it once the transaction commits."""
    if run_after is not None:
        task = task.using(run_after=run_after)
    if isinstance(task.get_backend(), DatabaseBackend):
        task.enqueue(*args)
    else:
        transaction.on_commit(lambda: task.enqueue(*args), robust=True)


def waiting_args(task):
    """The first argument of every queued or running call of ``task``."""
    waiting = DBTaskResult.objects.filter(
        task_path=task.module_path,
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
    ).values_list("args_kwargs", flat=True)
    return {args["args"][0] for args in waiting if args.get("args")}


class TaskRunner:
    """Runs queued tasks in this process, claiming each as django-tasks-db's
    own worker does (so several workers never run the same one) and letting
    its worker run the task and record the result."""

    def __init__(self, interval=1.0):
        self.worker = Worker(
            queue_names=["*"],
            excluded_queue_names=[],
            interval=interval,
            batch=True,
            backend_name=DEFAULT_TASK_BACKEND_ALIAS,
            startup_delay=False,
            max_tasks=None,
            worker_id=get_random_string(32),
        )

    @property
    def worker_id(self):
        return self.worker.worker_id

    def run_due(self, stopping):
        """Run queued tasks until none is due, or ``stopping`` (an Event) is set."""
        while not stopping.is_set():
            # ready() reads the clock: a retry queued by the last task may be due.
            ready = DBTaskResult.objects.ready().filter(backend_name=self.worker.backend_name)
            try:
                with exclusive_transaction(ready.db):
                    task_result = ready.get_locked()
                    if task_result is not None:
                        task_result.claim(self.worker_id)
            except OperationalError as error:
                if is_locked_database_exception(error):
                    return  # another worker is claiming; try again after the pause
                raise
            if task_result is None:
                return
            self.worker.run_task(task_result)


# --- Periodic duties ---------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Duty:
    name: str
    run: callable
    every: float  # seconds between runs
    wake_at: callable = None  # now -> the moment it must run sooner, or None
    drain: bool = False  # `worker --once` runs it again while it did something

    def run_logged(self):
        """Run once and return what the duty returned; a failure is logged
        (and retried at the next run) and returns None."""
        try:
            return self.run()
        except Exception:
            logger.exception("periodic duty %r failed; trying again at its next run", self.name)
            return None

    def seconds_to_next_run(self, every=None):
        """At most ``every`` (the duty's own by default), sooner when its
        ``wake_at`` moment comes before that."""
        interval = every or self.every
        if self.wake_at is None:
            return interval
        try:
            now = timezone.now()
            moment = self.wake_at(now)
        except Exception:
            logger.exception("could not read when %r is next due", self.name)
            return interval
        if moment is None:
            return interval
        return min(interval, max(0.0, (moment - now).total_seconds()) + 0.01)


_duties = []


def periodic_duty(every=60.0, *, wake_at=None, name=None, drain=False):
    """Declare a function as a duty of the worker loop, run every ``every``
    seconds (and at ``wake_at(now)`` when that is sooner). With ``drain``,
    ``worker --once`` runs it again while it returns a true value."""

    def register(function):
        duty = Duty(name or function.__name__, function, float(every), wake_at, drain)
        _duties[:] = [d for d in _duties if d.name != duty.name] + [duty]
        function.duty = duty
        return function

    return register


def duties():
    """The registered duties, in the order they were declared."""
    return list(_duties)


# --- Background loops --------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BackgroundLoop:
    """Work with a clock of its own that must not wait behind the worker loop
    (the check scheduler: a slow alert delivery must never make a check late).
    ``start()`` runs it in a thread and returns something with ``stop()``;
    ``once()`` does one pass, for ``worker --once``."""

    name: str
    start: callable
    once: callable


_loops = []


def background_loop(*, once, name=None):
    """Declare a function that starts a background loop beside the worker
    loop (it returns a handle with ``stop()``); ``once`` does one pass."""

    def register(function):
        loop = BackgroundLoop(name or function.__name__, function, once)
        _loops[:] = [existing for existing in _loops if existing.name != loop.name] + [loop]
        function.loop = loop
        return function

    return register


def background_loops():
    """The registered background loops, in the order they were declared."""
    return list(_loops)


def discover():
    """Import every module that declares tasks and duties: each app's
    ``tasks`` module (incidents.checks is part of the incidents app, hence
    ``checks.tasks``)."""
    autodiscover_modules("tasks", "checks.tasks")
