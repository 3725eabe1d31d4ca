"""The admin's "Check now" action, as the changelist's form posts it: it runs
HTTP and TCP checks at once, says when a worker is running one already, and
that heartbeats are checked by their pings."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Check

pytestmark = [pytest.mark.django_db]

CHANGELIST = "/admin/incidents/monitor/"


def check_now(admin_client, *ids):
    response = admin_client.post(
        CHANGELIST, {"action": "check_now", "_selected_action": list(ids)}, follow=True
    )
    # The changelist it returns to also warns when no alert channel is set.
    return [
        str(message)
        for message in response.context["messages"]
        if not str(message).startswith("No alert channel is configured")
    ]


def test_a_check_already_running_is_said_so(admin_client, make_monitor):
    check = {"type": "tcp", "host": "db.example.com", "port": 5432}
    monitor = make_monitor(name="Payments", check=check)
    Check.objects.update(running_until=timezone.now() + timedelta(seconds=30))
    assert check_now(admin_client, monitor.pk) == [
        "Payments: a worker is running its check right now; the result will be in a moment."
    ]


def test_heartbeats_are_not_checked_now(admin_client, make_monitor):
    monitor = make_monitor(check={"type": "heartbeat", "period": 60, "grace": 30})
    assert check_now(admin_client, monitor.pk) == [
        "None of these monitors has an HTTP or TCP check."
    ]
