"""The uptime part of ``make run``'s demo data: 90 days of plausible history
for the demo monitors (a few outages, a degraded day, a maintenance window
during which the database went down), so the bars show on the first run.
Loaded once, with the rest of the demo data."""

from datetime import timedelta

from incidents.cache import generation
from incidents.models import Incident, Monitor, MonitorStatusChange

HISTORY_DAYS = 91

# (monitor, days ago, hour, minutes in that state, state): outages and slow spells.
SPELLS = [
    ("mon_abc123", 41, 14, 25, Monitor.DOWN),
    ("mon_def456", 55, 9, 180, Monitor.DEGRADED),
    ("mon_def456", 20, 2, 40, Monitor.DOWN),  # inside the window below
    ("mon_web001", 70, 18, 12, Monitor.DOWN),
    ("mon_cdn001", 15, 6, 8 * 60, Monitor.DEGRADED),
    ("mon_mail01", 62, 23, 130, Monitor.DOWN),
]


def create_uptime_demo(actor, now, api_outage_start, api_outage_minutes):
    """Date the demo monitors 91 days back and record their past spells (and
    the API's outage during the demo's past incident); returns the id of the
    past window made."""
    monitor_ids = sorted({spell[0] for spell in SPELLS})
    Monitor.objects.filter(pk__in=monitor_ids).update(created_at=now - timedelta(days=HISTORY_DAYS))
    spells = [
        (
            monitor_id,
            now.replace(hour=hour, minute=0, second=0) - timedelta(days=ago),
            minutes,
            state,
        )
        for monitor_id, ago, hour, minutes, state in SPELLS
    ]
    spells.append(("mon_abc123", api_outage_start, api_outage_minutes, Monitor.DOWN))
    transitions = []
    for monitor_id, start, minutes, state in spells:
        transitions += [
            MonitorStatusChange(
                monitor_id=monitor_id,
                from_status=Monitor.OPERATIONAL,
                to_status=state,
                created_at=start,
            ),
            MonitorStatusChange(
                monitor_id=monitor_id,
                from_status=state,
                to_status=Monitor.OPERATIONAL,
                created_at=start + timedelta(minutes=minutes),
            ),
        ]
    MonitorStatusChange.objects.bulk_create(transitions)

    made = []
    window_start = now.replace(hour=1, minute=30, second=0) - timedelta(days=20)
    window = Incident.open_incident(
        title="Database storage migration",
        message="The database moves to new storage; short interruptions are expected.",
        monitor_ids=["mon_def456"],
        scheduled_start=window_start,
        scheduled_end=window_start + timedelta(hours=2),
        actor=actor,
        at=window_start - timedelta(days=3),
    )
    window.resolve("The migration is complete.", actor=actor, at=window_start + timedelta(hours=2))
    made.append(window.id)
    generation.bump()  # the update() and bulk_create() above send no signals
    return made
