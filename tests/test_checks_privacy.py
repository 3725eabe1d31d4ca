"""A check's target, its ping URL (the token is the secret) and its error
text are for key holders and the admin: the public page, the monitor's
badge, the feeds and the Statuspage JSON show state, never where or how a
monitor is checked."""

import pytest
from django.core.cache import cache

from incidents.checks.scheduler import run_checks_now
from incidents.models import Monitor
from tests.check_peers import http_target

pytestmark = [pytest.mark.django_db]

PUBLIC_PATHS = [
    "/",
    "/history/",
    "/feed.rss",
    "/feed.atom",
    "/badge.svg",
    "/badge/mon_web001.svg",
    "/badge/mon_cron01.svg",
    "/api/v2/status.json",
    "/api/v2/summary.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
]

NAMING_THE_MONITOR = {"/", "/api/v2/summary.json", "/api/v2/components.json"}


def test_public_faces_never_show_targets_ping_urls_or_errors(
    client, api, make_monitor, make_incident, settings
):
    settings.CHECKS_ALLOW_PRIVATE = True
    settings.KAMUSTATUS_PAGE_URL = "https://status.example.com"
    cache.clear()
    with http_target() as target:
        web = make_monitor(id="mon_web001", name="Website",
                           check={"type": "http", "url": target.base + "/status/503?secretpath",
                                  "failuresBeforeDown": 1})  # fmt: skip
        cron = make_monitor(id="mon_cron01", name="Nightly backup",
                            check={"type": "heartbeat", "period": 60, "grace": 30})  # fmt: skip
        run_checks_now([web.pk])
    make_incident(title="Website down", monitor_ids=[web.pk])
    token = cron.health_check.ping_token
    monitor = Monitor.objects.get(pk=web.pk)
    assert monitor.status == "down"
    keyed = api("GET", "/api/monitors/mon_web001").json()
    assert keyed["lastError"] == "status 503"  # key holders see it all
    secrets = [target.base, "secretpath", "127.0.0.1", token, "/ping/", "status 503"]
    for path in PUBLIC_PATHS:
        response = client.get(path)
        assert response.status_code == 200, path
        text = response.content.decode()
        if path in NAMING_THE_MONITOR:
            assert "Website" in text, path  # the page is about it, yet keeps the secrets
        for secret in secrets:
            assert secret not in text, (path, secret)
