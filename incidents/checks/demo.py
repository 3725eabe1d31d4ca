"""The checks part of ``make run``'s demo data: a live HTTP check of the
server itself (which is why ``make run`` sets CHECKS_ALLOW_PRIVATE=1) and a
heartbeat monitor, with the curl line that pings it. Made once, with the rest
of the demo data (and removed with it by ``loaddemo --remove``)."""

import os

from incidents.checks.addresses import allow_private
from incidents.models import Monitor

SELF_CHECK_ID = "mon_self01"
HEARTBEAT_ID = "mon_cron01"


def create_check_demo(actor):
    """Make the demo's checked monitors; returns their ids."""
    made = []
    # The server itself is on loopback: only when the operator allows that.
    if allow_private():
        port = os.environ.get("PORT", "8000")
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
        made.append(SELF_CHECK_ID)
    Monitor.create_monitor(
        id=HEARTBEAT_ID,
        name="Nightly backup",
        check={"type": "heartbeat", "period": 86_400, "grace": 3_600},
        actor=actor,
    )
    made.append(HEARTBEAT_ID)
    return made


def check_demo_lines():
    """How to ping the demo heartbeat, while it is still there."""
    heartbeat = Monitor.objects.select_related("health_check").filter(pk=HEARTBEAT_ID).first()
    check = getattr(heartbeat, "health_check", None)
    if check is None or check.ping_url is None:
        return []
    return [
        "  Heartbeat:   the 'Nightly backup' monitor goes down without a ping for 25 hours;",
        f"               ping it with: curl -fsS -m 10 --retry 3 {check.ping_url}",
    ]
