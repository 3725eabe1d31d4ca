"""Queued work (``incidents.queue``) and the worker's periodic duties for alerts,
run by ``manage.py worker``."""

import logging

from django.utils import timezone

from incidents.alerts import delivery
from incidents.alerts.models import Alert, WindowEnd
from incidents.models import Incident
from incidents.queue import periodic_duty, task, waiting_args

logger = logging.getLogger("incidents.worker")

# Stranded deliveries queued again per run, at most.
REQUEUE_BATCH = 500


@task()
def deliver_alert(alert_id):
    """One delivery attempt for one alert; retries are queued by the attempt."""
    return delivery.deliver(alert_id)


@task()
def process_window_ends():
    """Alerts for monitors still failing when a window ended (here: resolved
    early). Idempotent; the worker's periodic duty does the same."""
    return len(WindowEnd.objects.process_due())


@periodic_duty(every=60, wake_at=Incident.objects.next_maintenance_edge)
def window_ends():
    """The ends of maintenance windows: alerts for monitors still failing.
    Run at the moment a window ends by the clock, too (a window resolved early
    queues ``process_window_ends`` itself)."""
    alerts = WindowEnd.objects.process_due()
    if alerts:
        logger.info("maintenance over: %d alert(s) for monitors still failing", len(alerts))


@periodic_duty(every=60)
def requeue_stranded_deliveries():
    """Deliveries whose worker died or whose task was lost, queued again."""
    stranded = list(Alert.objects.stranded().values_list("pk", flat=True)[:REQUEUE_BATCH])
    if not stranded:
        return 0
    queued = waiting_args(deliver_alert)
    count = 0
    for alert in Alert.objects.filter(pk__in=stranded).exclude(pk__in=queued):
        alert.queue_delivery(run_after=max(alert.next_attempt_at, timezone.now()))
        count += 1
    if count:
        logger.warning("queued %d stranded alert delivery(ies) again", count)
    return count
