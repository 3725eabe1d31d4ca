"""Daily roll-ups of a monitor's uptime: one row per monitor and closed day
(in the page's time zone), so that the status page and the uptime endpoint
read 90 or 365 days in one query whatever the number of transitions.

A row is a cache of what incidents/uptime/history.py computes from the
transitions and the windows, never the truth: ``basis`` fingerprints what the
day was computed from (the page's zone, when the monitor was created, the
windows covering it that day), and a row whose basis no longer matches is
computed again. ``manage.py rebuild_uptime`` recomputes them all.
"""

from django.db import models

from incidents.cache.generation import NotShownOnPage
from incidents.models import Monitor


class UptimeDay(NotShownOnPage, models.Model):
    """Seconds in each state of one monitor on one closed day.

    Not shown on the page by itself: its numbers follow from transitions and
    windows whose own writes change the content generation (a monitor's
    status, a window), so writing a roll-up (on a page's first need, or by
    the worker) must not make every stored page stale again.
    """

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="uptime_days")
    date = models.DateField()
    operational_seconds = models.PositiveIntegerField(default=0)
    degraded_seconds = models.PositiveIntegerField(default=0)
    down_seconds = models.PositiveIntegerField(default=0)
    maintenance_seconds = models.PositiveIntegerField(default=0)
    no_data_seconds = models.PositiveIntegerField(default=0)
    basis = models.CharField(max_length=32)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["monitor", "date"]
        constraints = [
            models.UniqueConstraint(fields=["monitor", "date"], name="uptime_day_once"),
        ]

    def __str__(self):
        return f"{self.monitor_id} {self.date}"
