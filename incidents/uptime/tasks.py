"""The worker's uptime duty: write each closed day's roll-ups soon after
midnight (page time zone), so the first visitor of the day does not pay."""

from django.utils import timezone

from incidents.queue import periodic_duty
from incidents.uptime import history


def next_midnight(now):
    return history.next_day_boundary(now)


@periodic_duty(every=3600, wake_at=next_midnight)
def close_uptime_days():
    """Idempotent: days already rolled up are read, not written."""
    history.close_days(timezone.now())
