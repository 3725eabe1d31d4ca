"""Queued work (django-tasks, database backend), run by ``manage.py worker``."""

from django_tasks import task

from incidents.alerts import delivery


@task()
def deliver_alert(alert_id):
    """One delivery attempt for one alert; retries are queued by the attempt."""
    return delivery.deliver(alert_id)
