"""What a check's result does: it is kept, it moves the confirmation streaks,
and, once confirmed, it changes the monitor's state through the domain's one
rule (``Monitor.report_status``: the transition, its alerts or their
suppression by a window).

Confirmation, not flapping:
- ``down`` after ``failuresBeforeDown`` failures in a row;
- from ``down``, back after ``successesBeforeUp`` successes in a row (to
  ``degraded`` or ``operational``, as the last answer was);
- between ``operational`` and ``degraded`` (slow answers, a certificate that
  expires soon): ``degraded`` after ``failuresBeforeDown`` degraded answers in
  a row, back after ``successesBeforeUp`` good ones.
"""

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from incidents.checks.models import (
    CHECK_ACTOR,
    Check,
    CheckHourly,
    CheckResult,
    human_seconds,
)
from incidents.models import Monitor

logger = logging.getLogger("incidents.checks")

OPERATIONAL, DEGRADED, DOWN = Monitor.OPERATIONAL, Monitor.DEGRADED, Monitor.DOWN
HOURLY_KEPT = timedelta(days=365)
ERROR_MAX_LENGTH = 500


@dataclass(frozen=True)
class Outcome:
    """What one run of a check found."""

    monitor_id: str
    status: str  # operational, degraded or down
    checked_at: datetime
    response_time_ms: int | None = None
    error: str | None = None
    scheduled_for: datetime | None = None


def confirmed_status(current, streak_state, streak_count, successes, check):
    """The monitor's state after the latest result, by the confirmation rule."""
    if streak_state == DOWN:
        return DOWN if streak_count >= check.failures_before_down else current
    if current == DOWN:
        return streak_state if successes >= check.successes_before_up else current
    if streak_state == current:
        return current
    if streak_state == DEGRADED:
        return DEGRADED if streak_count >= check.failures_before_down else current
    return OPERATIONAL if streak_count >= check.successes_before_up else current


def _advance(check, outcome):
    """Move the streaks and last-result fields of ``check`` for ``outcome``."""
    if check.streak_state == outcome.status:
        check.streak_count += 1
    else:
        check.streak_state, check.streak_count = outcome.status, 1
    check.successes = 0 if outcome.status == DOWN else check.successes + 1
    check.last_checked_at = outcome.checked_at
    check.response_time_ms = outcome.response_time_ms
    if outcome.error:
        check.last_error = outcome.error[:ERROR_MAX_LENGTH]


RESULT_FIELDS = [
    "streak_state",
    "streak_count",
    "successes",
    "last_checked_at",
    "response_time_ms",
    "last_error",
    "running_until",
]


def record_outcomes(outcomes):
    """Keep a batch of results and apply each to its monitor, in one
    transaction (one commit for many results: SQLite writes stay cheap).
    Returns the transitions made."""
    if not outcomes:
        return []
    transitions = []
    with transaction.atomic():
        ids = [outcome.monitor_id for outcome in outcomes]
        checks = {
            check.pk: check for check in Check.objects.select_related("monitor").filter(pk__in=ids)
        }
        kept = []
        for outcome in outcomes:
            check = checks.get(outcome.monitor_id)
            if check is None:
                continue  # the check was removed while it ran
            kept.append(
                CheckResult(
                    monitor_id=outcome.monitor_id,
                    checked_at=outcome.checked_at,
                    scheduled_for=outcome.scheduled_for,
                    status=outcome.status,
                    response_time_ms=outcome.response_time_ms,
                    error=outcome.error[:ERROR_MAX_LENGTH] if outcome.error else None,
                )
            )
            _advance(check, outcome)
            check.running_until = None
        CheckResult.objects.bulk_create(kept)
        Check.objects.update_rows([(check, ()) for check in checks.values()], RESULT_FIELDS)
        for check in checks.values():
            transition = _confirm(check)
            if transition is not None:
                transitions.append(transition)
    return transitions


def _confirm(check):
    monitor = check.monitor
    wanted = confirmed_status(
        monitor.status, check.streak_state, check.streak_count, check.successes, check
    )
    if wanted == monitor.status:
        return None
    return monitor.report_status(wanted, actor=CHECK_ACTOR)


# --- Heartbeats -------------------------------------------------------------


def _heartbeat_deadline(check, now):
    return now + timedelta(seconds=check.period + check.grace)


def record_ping(check_id, *, failed, now=None):
    """A ping that changes something: a report of failure (``/fail``), or a
    ping to a monitor that is not operational. Kept as a result; the monitor
    follows at once (a heartbeat has no streaks to wait for)."""
    now = now or timezone.now()
    with transaction.atomic():
        check = Check.objects.select_for_update().select_related("monitor").get(pk=check_id)
        status = DOWN if failed else OPERATIONAL
        error = "failure reported by ping" if failed else None
        CheckResult.objects.create(monitor_id=check.pk, checked_at=now, status=status, error=error)
        check.last_ping_at = check.last_checked_at = now
        check.response_time_ms = None
        if error:
            check.last_error = error
        # While down after a reported failure, nothing is overdue: the next
        # good ping brings it back and starts the clock again.
        check.deadline_at = None if failed else _heartbeat_deadline(check, now)
        check.save(update_fields=["last_ping_at", "last_checked_at", "response_time_ms",
                                  "last_error", "deadline_at"])  # fmt: skip
        if check.monitor.status != status:
            check.monitor.report_status(status, actor=CHECK_ACTOR)


def record_plain_ping(check_id, period, grace, now):
    """The hot path: a ping to an operational heartbeat is one write."""
    Check.objects.filter(pk=check_id).update(
        last_ping_at=now,
        last_checked_at=now,
        deadline_at=now + timedelta(seconds=period + grace),
    )


def notice_heartbeat_deadlines(now=None):
    """Heartbeats whose ping is overdue (period + grace passed) go down.
    One indexed query finds them; returns how many were noticed."""
    now = now or timezone.now()
    overdue = list(Check.objects.overdue_heartbeats(now).values_list("pk", "deadline_at")[:500])
    noticed = 0
    for check_id, deadline in overdue:
        with transaction.atomic():
            # Claimed by clearing the deadline it was found with: another
            # worker, or a ping meanwhile, makes this a no-op.
            claimed = Check.objects.filter(pk=check_id, deadline_at=deadline).update(
                deadline_at=None
            )
            if not claimed:
                continue
            check = Check.objects.select_related("monitor").get(pk=check_id)
            error = f"no ping for {human_seconds(check.period + check.grace)}"
            CheckResult.objects.create(
                monitor_id=check.pk, checked_at=deadline, status=DOWN, error=error
            )
            Check.objects.filter(pk=check_id).update(last_error=error)
            if check.monitor.status != DOWN:
                check.monitor.report_status(DOWN, actor=CHECK_ACTOR)
            noticed += 1
    return noticed


# --- Keeping results bounded ------------------------------------------------


def _percentile(sorted_values, fraction):
    """The nearest-rank percentile: the smallest value at or above ``fraction`` of them."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)]


def _hour_of(moment):
    return moment.replace(minute=0, second=0, microsecond=0)


def purge_old_results(now=None, max_hours=48):
    """Fold results older than ``CHECK_RESULTS_DAYS`` into hourly aggregates
    (whole hours only, oldest first, at most ``max_hours`` per call) and drop
    aggregates older than a year. Returns how many results were folded."""
    now = now or timezone.now()
    cutoff = _hour_of(now - timedelta(days=settings.CHECK_RESULTS_DAYS))
    folded = 0
    for _ in range(max_hours):
        oldest = (
            CheckResult.objects.filter(checked_at__lt=cutoff)
            .order_by("checked_at")
            .values_list("checked_at", flat=True)
            .first()
        )
        if oldest is None:
            break
        hour = _hour_of(oldest)
        folded += _fold_hour(hour)
    CheckHourly.objects.filter(hour__lt=now - HOURLY_KEPT).delete()
    return folded


def _fold_hour(hour):
    end = hour + timedelta(hours=1)
    with transaction.atomic():
        rows = CheckResult.objects.filter(checked_at__gte=hour, checked_at__lt=end)
        if connection.features.has_select_for_update_skip_locked:
            # A second worker folding the same hour waits, then finds the rows gone.
            rows = rows.select_for_update()
        found = list(rows.values_list("monitor_id", "status", "response_time_ms"))
        by_monitor = {}
        for monitor_id, status, latency in found:
            entry = by_monitor.setdefault(monitor_id, {"count": 0, "failures": 0, "ms": []})
            entry["count"] += 1
            entry["failures"] += status == DOWN
            if latency is not None:
                entry["ms"].append(latency)
        for monitor_id, entry in by_monitor.items():
            latencies = sorted(entry["ms"])
            hourly, created = CheckHourly.objects.select_for_update().get_or_create(
                monitor_id=monitor_id,
                hour=hour,
                defaults={
                    "count": entry["count"],
                    "failures": entry["failures"],
                    "p50_ms": _percentile(latencies, 0.5),
                    "p95_ms": _percentile(latencies, 0.95),
                },
            )
            if not created:  # a late result for an hour already folded
                hourly.count += entry["count"]
                hourly.failures += entry["failures"]
                hourly.save(update_fields=["count", "failures"])
        CheckResult.objects.filter(checked_at__gte=hour, checked_at__lt=end).delete()
    return len(found)
