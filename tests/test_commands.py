from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from incidents.models import ApiKey, Incident, Monitor


def test_createapikey_prints_the_raw_key_last(db):
    out = StringIO()
    call_command("createapikey", "deploy-bot", stdout=out)
    raw = out.getvalue().strip().splitlines()[-1]
    key = ApiKey.objects.get()
    assert ApiKey.objects.authenticate(raw) == key
    assert key.name == "deploy-bot"


def test_createapikey_refuses_an_empty_name(db):
    with pytest.raises(CommandError):
        call_command("createapikey", "  ", stdout=StringIO())


def test_loaddemo_loads_once_and_makes_the_seed_work(db):
    call_command("loaddemo", stdout=StringIO())
    call_command("loaddemo", stdout=StringIO())
    assert set(Monitor.objects.values_list("pk", flat=True)) >= {"mon_abc123", "mon_def456"}
    assert Incident.objects.resolved().not_maintenance().count() == 1
    assert Incident.objects.ongoing().count() == 1
    assert Incident.objects.upcoming_maintenance().count() == 1


def test_loaddemo_credentials(db):
    out = StringIO()
    call_command("loaddemo", "--credentials", stdout=out)
    raw = out.getvalue().split("API key: ")[1].split()[0]
    assert ApiKey.objects.authenticate(raw).name == "demo"
    call_command("loaddemo", "--credentials", stdout=StringIO())
    assert ApiKey.objects.authenticate(raw) is None  # the previous demo key is revoked
