"""``make run``'s demo: a live HTTP check of the server itself (CHECKS_ALLOW_PRIVATE
is set by make run) and a heartbeat monitor whose curl line is printed."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

from incidents.models import Monitor

pytestmark = [pytest.mark.django_db]


def test_the_demo_has_a_live_check_and_a_heartbeat_to_ping(client, settings, monkeypatch):
    settings.CHECKS_ALLOW_PRIVATE = True
    monkeypatch.setenv("PORT", "8123")
    out = StringIO()
    call_command("loaddemo", "--credentials", stdout=out)
    call_command("loaddemo", stdout=StringIO())  # once
    web = Monitor.objects.get(pk="mon_self01").health_check
    assert (web.type, web.url, web.keyword) == ("http", "http://127.0.0.1:8123/", "Kamustatus")
    curl = re.search(r"curl -fsS -m 10 --retry 3 (\S+)", out.getvalue())[1]
    assert curl == Monitor.objects.get(pk="mon_cron01").health_check.ping_url
    assert client.get(curl[curl.index("/ping/") :]).content == b"OK\n"


def test_without_private_targets_the_demo_skips_the_self_check(settings):
    settings.CHECKS_ALLOW_PRIVATE = False
    call_command("loaddemo", stdout=StringIO())
    assert not Monitor.objects.filter(pk="mon_self01").exists()
    assert Monitor.objects.get(pk="mon_cron01").health_check.type == "heartbeat"


def test_the_checked_demo_monitors_go_with_the_rest_of_the_demo_data(settings):
    settings.CHECKS_ALLOW_PRIVATE = True
    call_command("loaddemo", stdout=StringIO())
    call_command("loaddemo", "--remove", stdout=StringIO())
    assert not Monitor.objects.filter(pk__in=["mon_self01", "mon_cron01"]).exists()
    out = StringIO()
    call_command("loaddemo", "--credentials", stdout=out)  # never made again
    assert not Monitor.objects.filter(pk__in=["mon_self01", "mon_cron01"]).exists()
    assert "curl" not in out.getvalue()
