"""The scheduler: which checks are due, who runs them, and when they run next.

A check is claimed by moving its schedule on — ``next_run_at`` becomes the
previous schedule plus the interval (no drift; runs missed while no worker
ran are skipped, not caught up) — and marking it running until its timeout
has passed. The claim is ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL
and a conditional ``UPDATE`` (on the ``next_run_at`` that was read) on
SQLite, so several workers on several hosts share the checks and none runs
one twice per interval. The schedule lives in the database: a restarted
worker picks it up where it was.

``CheckScheduler`` runs in ``manage.py worker`` beside the task loop, in a
thread of its own with one asyncio loop: every claimed check runs as its own
task within its own timeout, so a slow target delays nobody else, and a
slow alert delivery in the task loop delays no check. Why asyncio rather
than a pool of threads: a thousand checks waiting on the network cost a
thousand small tasks in one thread, not a thousand threads. Database work
(claims, results in batches, heartbeat deadlines) goes through one thread
of its own, with its own connection.
"""

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from incidents.checks.models import Check
from incidents.checks.results import notice_heartbeat_deadlines, record_outcomes
from incidents.checks.running import make_client, run_check, run_checks

logger = logging.getLogger("incidents.checks")

RUNNING_MARGIN = timedelta(seconds=5)
CLAIM_FIELDS = ["next_run_at", "running_until"]
CLAIM_BATCH = 200


def next_slot(scheduled, interval, now):
    """The first slot after ``now`` on the grid ``scheduled + k × interval``."""
    step = timedelta(seconds=interval)
    following = scheduled + step
    if following <= now:
        following = scheduled + ((now - scheduled) // step + 1) * step
    return following


def _mark_claimed(check, now):
    check.scheduled_for = check.next_run_at
    check.next_run_at = next_slot(check.next_run_at, check.interval, now)
    start = max(now, check.scheduled_for)
    check.running_until = start + timedelta(seconds=check.timeout) + RUNNING_MARGIN


def claim_due_checks(now=None, limit=CLAIM_BATCH, ahead=timedelta(0)):
    """Claim up to ``limit`` checks due by ``now + ahead`` for this process;
    each has ``scheduled_for``, the slot it runs for (the scheduler claims a
    little ahead and waits for the slot, so a run starts on time)."""
    now = now or timezone.now()
    with transaction.atomic():
        due = Check.objects.due(now, ahead).order_by("next_run_at")
        if connection.features.has_select_for_update_skip_locked:
            # PostgreSQL: rows another worker holds are skipped, the rest are ours.
            claimed = list(due.select_for_update(skip_locked=True)[:limit])
            for check in claimed:
                _mark_claimed(check, now)
            Check.objects.update_rows([(check, ()) for check in claimed], CLAIM_FIELDS)
            return claimed
        # SQLite: each row is ours only if its schedule is still the one read.
        found = list(due[:limit])
        seen = [check.next_run_at for check in found]
        for check in found:
            _mark_claimed(check, now)
        field = Check._meta.get_field("next_run_at")
        counts = Check.objects.update_rows(
            [(check, [field.get_db_prep_save(slot, connection)])
             for check, slot in zip(found, seen, strict=True)],
            CLAIM_FIELDS,
            condition=" AND next_run_at = %s",
        )  # fmt: skip
        claimed = [check for check, won in zip(found, counts, strict=True) if won]
        return claimed


def claim_now(monitor_ids, now=None):
    """Claim these checks to run at once ("check now"), unless running; the
    schedule is left as it is."""
    now = now or timezone.now()
    claimed = []
    for check in Check.objects.scheduled().filter(pk__in=monitor_ids):
        free = Check.objects.filter(pk=check.pk).filter(
            Q(running_until__isnull=True) | Q(running_until__lt=now)
        )
        check.running_until = now + timedelta(seconds=check.timeout) + RUNNING_MARGIN
        check.scheduled_for = None
        if free.update(running_until=check.running_until):
            claimed.append(check)
    return claimed


def run_claimed(claimed):
    """Run claimed checks concurrently, keep their results; the Outcomes."""
    if not claimed:
        return []
    scheduled = {check.pk: check.scheduled_for for check in claimed}
    outcomes = asyncio.run(run_checks(claimed, scheduled))
    record_outcomes(outcomes)
    return outcomes


def run_due_checks(now=None, limit=CLAIM_BATCH):
    """Claim the due checks, run them and keep their results (the worker's
    ``--once``; the long-running worker uses ``CheckScheduler``)."""
    return run_claimed(claim_due_checks(now, limit))


def run_checks_now(monitor_ids):
    """The admin's "check now": run these checks at once and wait for them."""
    return run_claimed(claim_now(monitor_ids))


class CheckScheduler:
    """Runs due checks and notices overdue heartbeats until stopped.

    Two loops share one asyncio loop: one claims what falls due within the
    next ``AHEAD`` and starts each run on its slot; the other keeps the
    results (in batches) and notices overdue heartbeats. Each has its own
    database thread and connection, so keeping a batch never delays a claim.
    """

    AHEAD = timedelta(seconds=1.5)

    def __init__(self, *, concurrency=1000, tick=0.25):
        self.concurrency = concurrency
        self.tick = tick
        self._stop = threading.Event()
        self._thread = None
        self._executors = {}

    def start(self):
        self._thread = threading.Thread(target=self._run, name="checks", daemon=True)
        self._thread.start()

    def stop(self, timeout=70):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self):
        self._executors = {
            name: (ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"checks-{name}"), [0.0])
            for name in ("claims", "results")
        }
        try:
            asyncio.run(self._main())
        finally:
            for executor, _checked in self._executors.values():
                executor.submit(lambda: connection.close()).result()
                executor.shutdown()

    def _database(self, name, function, *args):
        """Run ``function`` in the named database thread."""
        executor, checked = self._executors[name]

        def call():
            if time.monotonic() - checked[0] > 10:
                close_old_connections()  # drop a broken or old connection, as a request would
                checked[0] = time.monotonic()
            return function(*args)

        return asyncio.get_running_loop().run_in_executor(executor, call)

    async def _main(self):
        running = set()
        finished = []
        async with make_client() as client:
            await asyncio.gather(
                self._loop("claims", self._claim, client, running, finished),
                self._loop("results", self._keep, finished),
            )
            # Stopping: let the checks under way finish (each within its
            # timeout) and keep their results.
            if running:
                await asyncio.wait(running)
            if finished:
                await self._database("results", record_outcomes, list(finished))

    async def _loop(self, name, step, *args):
        while not self._stop.is_set():
            try:
                await step(*args)
            except Exception:
                logger.exception("%s of checks failed; trying again shortly", name)
                self._executors[name][1][0] = 0.0
                await asyncio.sleep(2)
            await asyncio.sleep(self.tick)

    async def _claim(self, client, running, finished):
        room = self.concurrency - len(running)
        if room <= 0:
            return
        now = timezone.now()
        claimed = await self._database(
            "claims", claim_due_checks, now, min(room, CLAIM_BATCH), self.AHEAD
        )
        for check in claimed:
            task = asyncio.create_task(self._run_one(client, check, finished))
            running.add(task)
            task.add_done_callback(running.discard)

    async def _run_one(self, client, check, finished):
        wait = (check.scheduled_for - timezone.now()).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)  # claimed ahead: start on the slot
        finished.append(await run_check(check, client, check.scheduled_for))

    async def _keep(self, finished):
        if finished:
            batch = list(finished)
            del finished[: len(batch)]
            try:
                await self._database("results", record_outcomes, batch)
            except Exception:
                finished[:0] = batch  # kept for the next try
                raise
        await self._database("results", notice_heartbeat_deadlines, timezone.now())
