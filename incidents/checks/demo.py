"""The checks part of ``make run``'s demo: a live HTTP check of the server
itself (which is why ``make run`` sets CHECKS_ALLOW_PRIVATE=1) and a
heartbeat monitor, with the curl line that pings it."""

import os

from incidents.checks.addresses import allow_private
from incidents.models import Actor, Monitor

SELF_CHECK_ID = "mon_self01"
HEARTBEAT_ID = "mon_cron01"


def ensure_check_demo():
    """Create the two demo monitors once; return the lines to print."""
    actor = Actor.system("demo data")
    port = os.environ.get("PORT", "8000")
    # The server itself is on loopback: only when the operator allows that.
    if allow_private() and not Monitor.objects.filter(pk=SELF_CHECK_ID).exists():
        Monitor.create_monitor(
            id=SELF_CHECK_ID,
            name="Status page",
            check={
                "type": "http",
                "url": f"http://127.0.0.1:{port}/",
                "keyword": "Kamustatus",
                "interval": 30,
                "degradedAboveMs": 2000,
            },
            actor=actor,
        )
    if not Monitor.objects.filter(pk=HEARTBEAT_ID).exists():
        Monitor.create_monitor(
            id=HEARTBEAT_ID,
            name="Nightly backup",
            check={"type": "heartbeat", "period": 86_400, "grace": 3_600},
            actor=actor,
        )
    heartbeat = Monitor.objects.select_related("health_check").get(pk=HEARTBEAT_ID)
    check = getattr(heartbeat, "health_check", None)
    if check is None or check.ping_url is None:
        return []
    return [
        "  Heartbeat: the 'Nightly backup' monitor goes down without a ping for 25 hours;",
        f"             ping it with: curl -fsS -m 10 --retry 3 {check.ping_url}",
    ]
