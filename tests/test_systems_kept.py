"""The status page's systems section data (the monitors, their groups and 90
days of bars) kept per process under the systems token
(incidents/cache/generation.py, incidents/pages/views.py ``systems_for``).

An entry appended to an open incident — what a refresh storm is made of —
leaves the token, so the re-render after it reads only the incidents; every
other write changes it, and the next render reads the section again. Either
way the page is byte for byte the one a render from scratch gives."""

import secrets
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.utils import translation

from incidents.appearance.models import PageSettings
from incidents.cache import generation
from incidents.groups.models import MonitorGroup
from incidents.models import Incident, Monitor, MonitorStatusChange
from incidents.pages import fragments, views
from incidents.pages.views import SYSTEMS_READ, render_page, status_context
from tests import writes


@pytest.fixture(autouse=True)
def fresh(db):
    writes.committed()
    cache.set(generation.SYSTEMS_KEY, secrets.token_hex(8), None)
    fragments.forget()
    # Today's bar of a monitor that is down moves every second; the kept data
    # is as true as a stored page (until the uptime refresh), and a render
    # from scratch a moment later would differ by that alone.
    with time_machine.travel(datetime.now(UTC), tick=False):
        yield


@pytest.fixture
def page(make_monitor, make_incident):
    created = datetime.now(UTC) - timedelta(days=40)
    monitors = [make_monitor(id=f"mon_kept{n}", name=f"Service {n}") for n in range(3)]
    Monitor.objects.update(created_at=created)
    down_at = datetime.now(UTC) - timedelta(days=3)
    MonitorStatusChange.objects.create(
        monitor=monitors[0], from_status="operational", to_status="down", created_at=down_at
    )
    incident = make_incident(title="Slow answers", monitor_ids=[monitors[1].id], at=down_at)
    return monitors, incident


def render(client, **headers):
    """(whether ``/`` read the systems data, its bytes), fresh after a write."""
    # A new generation, as the write's commit gives (inside the test's
    # transaction it never comes); the systems token is the write's own to change.
    cache.set(generation.KEY, secrets.token_hex(8), None)
    before = SYSTEMS_READ["read"]
    response = client.get("/", **headers)
    assert response.status_code == 200
    return SYSTEMS_READ["read"] > before, response.content


def reference():
    """``/`` rendered from scratch: no kept piece, no kept systems data."""
    views.forget_systems()
    with fragments.disabled():
        context, _valid_until = status_context(datetime.now(UTC))
        return render_page("incidents/status-page.html", context)


def entry(incident, **changes):
    """What the API's PATCH does (one locked read, then the change)."""
    Incident.objects.for_change(incident.pk).apply_change(**changes)


def test_an_entry_on_an_open_incident_keeps_the_systems_data(client, page):
    _monitors, incident = page
    assert render(client)[0]
    for number, status in enumerate(["identified", None, "monitoring"]):
        changes = {"message": f"Storm update #{number}"}
        if status:
            changes["status"] = status
        entry(incident, **changes)
        read, body = render(client)
        assert not read
        assert f"Storm update #{number}".encode() in body
    assert body == reference()


WRITES = {
    "resolved": lambda monitors, incident: entry(incident, status="resolved", message="Fixed."),
    "retitled": lambda monitors, incident: entry(incident, title="Slower answers", message="x"),
    "relinked": lambda monitors, incident: entry(
        incident, monitor_ids=[monitors[2].id], message="x"
    ),
    "new incident": lambda monitors, incident: Incident.open_incident(
        title="Checkout down", message="Looking.", monitor_ids=[monitors[0].id]
    ),
    "window": lambda monitors, incident: Incident.open_incident(
        title="Upgrade",
        message="Planned.",
        status="monitoring",
        monitor_ids=[monitors[0].id],
        scheduled_start=datetime.now(UTC) - timedelta(minutes=5),
        scheduled_end=datetime.now(UTC) + timedelta(hours=1),
    ),
    "monitor renamed": lambda monitors, incident: Monitor.objects.get(pk=monitors[0].id).change(
        name="Renamed service"
    ),
    "monitor down": lambda monitors, incident: Monitor.objects.get(pk=monitors[2].id).report_status(
        "down"
    ),
    "group": lambda monitors, incident: Monitor.objects.get(pk=monitors[0].id).change(
        group_id=MonitorGroup.create_group(name="Core", id="grp_core").id
    ),
    "page settings": lambda monitors, incident: (
        PageSettings.objects.filter(pk=PageSettings.objects.get_solo().pk).first().save()
    ),
    "incident deleted": lambda monitors, incident: incident.delete_with_audit(),
}


@pytest.mark.parametrize("write", WRITES)
def test_every_other_write_reads_the_systems_data_again(client, page, write):
    monitors, incident = page
    render(client)
    WRITES[write](monitors, incident)
    read, body = render(client)
    assert read
    assert body == reference()


def test_kept_bars_speak_each_language(client, page):
    """The kept bars are written once per language, not in the first one."""
    _monitors, incident = page
    render(client)
    entry(incident, message="Still on it.")
    read, body = render(client, HTTP_ACCEPT_LANGUAGE="de")
    assert not read
    assert b"Betriebsbereit" in body or b"Ausfall" in body
    with translation.override("de"):
        assert body == reference()


def test_nothing_is_kept_while_a_bump_is_pending(client, page, monkeypatch):
    """A process that lost the cache cannot know what was written meanwhile."""
    _monitors, incident = page
    render(client)
    monkeypatch.setattr(generation, "_pending", True)
    assert generation.systems_read() is None
    monkeypatch.setattr(generation, "_pending", False)


def test_a_missing_token_is_made_anew_and_kept_under(client, page):
    """Expired, evicted or culled: the next render makes one and reads the
    data; the entries after it keep the data again."""
    _monitors, incident = page
    render(client)
    cache.delete(generation.SYSTEMS_KEY)
    entry(incident, message="One.")
    assert render(client)[0]
    assert generation.is_final(cache.get(generation.SYSTEMS_KEY))
    entry(incident, message="Two.")
    read, body = render(client)
    assert not read and b"Two." in body


def test_until_the_commit_only_the_writing_thread_sees_a_new_token(
    client, page, monkeypatch, django_capture_on_commit_callbacks
):
    """With Redis the shared tokens change once, after the commit: until then
    every other reader keeps the copies it stored from the committed data.
    The writer's own reads see tokens of their own, its systems token
    provisional: nothing is kept under it, as the write may yet roll back."""
    monitors, incident = page
    render(client)
    monkeypatch.setattr(generation, "_cache_commits_with_the_data", lambda: False)

    def shared():
        return {key: cache.get(key) for key in generation.TOKEN_KEYS}

    before = shared()
    with django_capture_on_commit_callbacks(execute=True):  # then "commits"
        Monitor.objects.get(pk=monitors[0].id).change(name="Renamed")
        assert shared() == before
        assert not generation.is_final(generation.systems_token())
        read, body = render(client)
        assert read and b"Renamed" in body
        entry(incident, message="One.")
        read, body = render(client)
        assert read and b"One." in body  # nothing was kept under the provisional token
        inside = shared()
    after = shared()
    assert after[generation.KEY] != inside[generation.KEY]
    assert after[generation.SYSTEMS_KEY] != before[generation.SYSTEMS_KEY]
    assert generation.is_final(after[generation.SYSTEMS_KEY])
    read, body = render(client)
    assert read and b"Renamed" in body and b"One." in body
    assert not render(client)[0]  # kept under the final token


def test_a_window_in_force_keeps_the_data_no_longer_than_the_uptime_refresh(client, page, settings):
    """Its monitors' minutes of maintenance today grow with the clock."""
    monitors, _incident = page
    now = datetime.now(UTC)
    Incident.open_incident(title="Upgrade", message="Planned.", status="monitoring",
                           monitor_ids=[monitors[2].id],
                           scheduled_start=now - timedelta(minutes=5),
                           scheduled_end=now + timedelta(hours=2))  # fmt: skip
    Monitor.objects.exclude(pk=monitors[2].id).delete()  # no downtime left on the page
    render(client)
    kept = views._systems
    assert kept.valid_until == now + timedelta(seconds=settings.KAMUSTATUS_UPTIME_REFRESH_SECONDS)


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_starts_renders_the_page_for_itself(client, make_monitor, make_incident):
    """A starting worker (gunicorn.conf.py) renders ``/`` once in a thread
    of its own: the first request it answers renders no row and reads no
    systems data again, and nothing was stored ahead of it."""
    from incidents.cache.pages import PAGES
    from incidents.pages import fragments, warm

    for n in range(3):
        make_monitor(id=f"mon_warm{n}", name=f"Service {n}")
    make_incident(title="Slow answers", monitor_ids=["mon_warm1"])
    writes.committed()
    fragments.forget()
    warm.warm_in_background().join(timeout=30)
    assert fragments.RENDERED  # the pieces, rendered ahead
    assert PAGES.lookup("status:en")[1] is None  # and nothing stored
    rendered, reads = fragments.RENDERED.copy(), views.SYSTEMS_READ["read"]
    page = client.get("/")
    assert b"Slow answers" in page.content and b"Service 2" in page.content
    assert rendered == fragments.RENDERED
    assert views.SYSTEMS_READ["read"] == reads


@pytest.fixture
def quiet_page(make_monitor, make_incident):
    """A page whose bars stand still until midnight (no monitor down, no
    window), at noon; an open incident on no monitor, and one resolved
    almost ``RECENT_HISTORY`` ago (the oldest on the front page)."""
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    with time_machine.travel(noon, tick=False):
        for n in range(2):
            make_monitor(id=f"mon_quiet{n}", name=f"Service {n}")
        Monitor.objects.update(created_at=noon - timedelta(days=40))
        open_one = make_incident(title="Slow answers")
        old = make_incident(title="Old trouble", at=noon - views.RECENT_HISTORY)
        old.resolve(message="Fixed.", at=noon - views.RECENT_HISTORY + timedelta(minutes=30))
        yield noon, open_one


def test_an_entry_on_an_open_incident_reads_only_the_ongoing_incidents(client, quiet_page):
    """The windows and the recent incidents are kept with the systems data:
    the re-render after the entry lists the incidents once (the ongoing ones),
    not four times (ongoing, windows in force, windows to come, recent)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _noon, incident = quiet_page
    render(client)
    entry(incident, message="Still on it.")
    with CaptureQueriesContext(connection) as queries:
        read, body = render(client)
    assert not read and b"Still on it." in body and b"Old trouble" in body
    listed = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith('SELECT "incidents_incident"."id"')
    ]
    assert len(listed) == 1, listed
    assert body == reference()


def test_the_kept_recent_incidents_leave_the_page_on_time(client, quiet_page):
    """The oldest recent incident leaves the front page RECENT_HISTORY after
    it finished, though no write changed the systems token."""
    noon, incident = quiet_page
    render(client)
    horizon = noon + timedelta(minutes=30)
    assert views._systems.valid_until == horizon
    with time_machine.travel(horizon + timedelta(seconds=1), tick=False):
        entry(incident, message="Still on it.")
        read, body = render(client)
        assert read
        assert b"Old trouble" not in body and b"Still on it." in body
        assert body == reference()
