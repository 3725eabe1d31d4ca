"""The worker's work for checks (``manage.py worker``): the scheduler, which
runs due checks and notices overdue heartbeats in a thread of its own, and
the purge of old results."""

from incidents.checks.results import notice_heartbeat_deadlines, purge_old_results
from incidents.checks.scheduler import CheckScheduler, run_due_checks
from incidents.queue import background_loop, periodic_duty


def run_checks_once():
    run_due_checks()
    notice_heartbeat_deadlines()


@background_loop(once=run_checks_once)
def check_scheduler():
    """Due checks and heartbeat deadlines, beside the worker loop: a slow
    alert delivery there never makes a check late."""
    scheduler = CheckScheduler()
    scheduler.start()
    return scheduler


@periodic_duty(every=60)
def purge_check_results():
    """Results past CHECK_RESULTS_DAYS folded into hourly aggregates."""
    purge_old_results()
