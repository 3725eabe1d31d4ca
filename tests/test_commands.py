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


def loaddemo(*args):
    out = StringIO()
    call_command("loaddemo", *args, stdout=out)
    return out.getvalue()


def test_loaddemo_credentials_are_made_once_and_never_reset(db):
    from django.contrib.auth import authenticate

    first = loaddemo("--credentials")
    raw = first.split("API key:")[1].split()[0]
    password = first.split("password ")[1].split()[0]
    assert ApiKey.objects.authenticate(raw).name == "demo"
    assert authenticate(username="admin", password=password) is not None
    again = loaddemo("--credentials")
    # The key and the password printed first still work; nothing new is printed.
    assert ApiKey.objects.authenticate(raw).name == "demo"
    assert authenticate(username="admin", password=password) is not None
    assert raw not in again and password not in again
    assert "changepassword admin" in again and "createapikey" in again
    assert ApiKey.objects.count() == 1


def test_a_revoked_demo_key_stays_revoked(db):
    raw = loaddemo("--credentials").split("API key:")[1].split()[0]
    ApiKey.objects.authenticate(raw).revoke()
    assert "revoked" in loaddemo("--credentials")
    assert not ApiKey.objects.usable().exists()


def test_demo_data_deleted_by_the_operator_never_comes_back(db):
    loaddemo()
    for incident in Incident.objects.all():
        incident.delete_with_audit()
    Monitor.objects.get(pk="mon_abc123").delete_with_audit()
    assert "not loaded again" in loaddemo()  # no Conflict on mon_def456
    assert not Monitor.objects.filter(pk="mon_abc123").exists()
    assert not Incident.objects.exists()
    for monitor in Monitor.objects.all():
        monitor.delete_with_audit()
    loaddemo()
    assert not Monitor.objects.exists() and not Incident.objects.exists()


def test_loaddemo_remove_deletes_the_demo_data_and_only_it(db, make_monitor, make_incident):
    loaddemo()
    mine = make_monitor(name="Payments")
    my_incident = make_incident(title="Payments slow", monitor_ids=[mine.id])
    # 5 monitors and the demo heartbeat (the self-check needs CHECKS_ALLOW_PRIVATE);
    # a past, an ongoing incident, the upcoming window and a past one (uptime history).
    assert "Removed the demo data: 6 monitors, 4 incidents." in loaddemo("--remove")
    assert list(Monitor.objects.values_list("pk", flat=True)) == [mine.id]
    assert list(Incident.objects.values_list("pk", flat=True)) == [my_incident.id]
    assert "removed" in loaddemo()  # and it is not loaded again
    assert Monitor.objects.count() == 1


def test_the_demo_monitors_are_in_two_groups_in_page_order(db):
    from incidents.groups.models import MonitorGroup

    loaddemo()
    groups = list(MonitorGroup.objects.with_members().in_page_order())
    assert [(g.name, [m.id for m in g.monitors.all()]) for g in groups] == [
        ("Core services", ["mon_abc123", "mon_def456", "mon_mail01"]),
        ("Website", ["mon_web001", "mon_cdn001"]),
    ]
    order = [m.id for m in Monitor.objects.in_page_order()]
    assert order[:5] == ["mon_abc123", "mon_def456", "mon_mail01", "mon_web001", "mon_cdn001"]
    assert order[5:] == ["mon_cron01"]  # the checked demo monitor, in no group, after them
    assert Monitor.objects.get(pk="mon_abc123").description == "The public REST API."


def test_removing_the_demo_keeps_a_demo_group_the_operator_uses(db, make_monitor):
    from incidents.groups.models import MonitorGroup

    loaddemo()
    make_monitor(name="Payments", group_id="grp_core")
    loaddemo("--remove")
    assert list(MonitorGroup.objects.values_list("pk", flat=True)) == ["grp_core"]


def test_no_demo_data_on_a_database_the_operator_already_uses(db, make_monitor):
    make_monitor(name="Payments")
    loaddemo()
    assert Monitor.objects.count() == 1 and not Incident.objects.exists()
    Monitor.objects.get().delete_with_audit()
    loaddemo()  # an emptied page stays empty
    assert not Monitor.objects.exists()


def test_loaddemo_no_data_starts_empty_and_stays_so(db):
    loaddemo("--no-data", "--credentials")
    assert not Monitor.objects.exists() and not Incident.objects.exists()
    loaddemo("--credentials")
    assert not Monitor.objects.exists() and not Incident.objects.exists()
