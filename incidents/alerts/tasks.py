"""Queued work (django-tasks, database backend), run by ``manage.py worker``."""

from django_tasks import task

from incidents.alerts import delivery
from incidents.alerts.models import WindowEnd


@task()
def deliver_alert(alert_id):
    """One delivery attempt for one alert; retries are queued by the attempt."""
    return delivery.deliver(alert_id)


@task()
def process_window_ends():
    """Alerts for monitors still failing when a window ended (here: resolved
    early). Idempotent; the worker's periodic check does the same."""
    return len(WindowEnd.objects.process_due())
