"""The worker's duties for subscribers (``manage.py worker``): fanning out
events and sending their mail and webhooks, noticing windows that start or
complete by the clock, and forgetting unconfirmed subscriptions."""

import logging

from django.utils.crypto import get_random_string

from incidents.models import Incident
from incidents.queue import periodic_duty
from incidents.subscribers import fanout
from incidents.subscribers.outbox import notice_window_edges

logger = logging.getLogger("incidents.worker")

# This process's name in the claims it makes on events and deliveries.
WORKER_ID = get_random_string(32)

# Seconds one run may send for, so the loop's other duties and a stop request
# wait no longer.
DELIVERY_BUDGET = 5.0


@periodic_duty(every=1, drain=True)
def deliver_to_subscribers():
    """Fan out subscribers' events, then send their due mail and webhooks;
    returns how many deliveries were handled."""
    return fanout.run(WORKER_ID, budget_seconds=DELIVERY_BUDGET)


@periodic_duty(every=60, wake_at=Incident.objects.next_maintenance_edge)
def window_edges_for_subscribers():
    """Windows that started or completed by the clock: one event each."""
    events = notice_window_edges()
    if events:
        logger.info("maintenance edges: %d event(s) for subscribers", len(events))


@periodic_duty(every=60)
def forget_lapsed_subscriptions():
    """Unconfirmed subscriptions older than 48 hours."""
    lapsed = fanout.forget_lapsed()
    if lapsed:
        logger.info("forgot %d unconfirmed subscription(s) after 48 hours", lapsed)
