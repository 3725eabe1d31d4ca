"""The public Statuspage-compatible JSON under /api/v2/: shapes, meaning,
caching and CORS, as a Statuspage consumer would see them."""

import gzip
import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from jsonschema import Draft202012Validator, FormatChecker

from incidents.cache import generation, store
from incidents.models import Incident, Monitor
from incidents.public import cached as public_cached
from incidents.public.cached import cached_body
from incidents.public.shapes import Page

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)

ENDPOINTS = [
    "/api/v2/status.json",
    "/api/v2/summary.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json",
    "/api/v2/scheduled-maintenances/upcoming.json",
    "/api/v2/scheduled-maintenances/active.json",
]

# --- The shapes, as Statuspage documents them ---------------------------------

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")

formats = FormatChecker(formats=())


@formats.checks("date-time")
def is_timestamp(value):
    """ISO 8601 with a date, a time and an offset (or Z), as Statuspage writes."""
    if not isinstance(value, str):
        return True  # formats apply to strings; the type is checked apart
    if not TIMESTAMP.match(value):
        return False
    return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


@formats.checks("date")
def is_date(value):
    return not isinstance(value, str) or bool(re.fullmatch(r"\d{4}-\d\d-\d\d", value))


def obj(properties):
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": False,
    }


STRING = {"type": "string"}
TIME = {"type": "string", "format": "date-time"}
TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}

PAGE = obj(
    {
        "id": {"type": "string", "pattern": "^[a-z0-9]{12}$"},
        "name": STRING,
        "url": {"type": "string", "pattern": "^https?://"},
        "time_zone": STRING,
        "updated_at": TIME,
    }
)
STATUS = obj(
    {
        "indicator": {"enum": ["none", "minor", "major", "critical", "maintenance"]},
        "description": STRING,
    }
)
COMPONENT = obj(
    {
        "id": STRING,
        "name": STRING,
        "status": {
            "enum": [
                "operational",
                "degraded_performance",
                "partial_outage",
                "major_outage",
                "under_maintenance",
            ]
        },
        "created_at": TIME,
        "updated_at": TIME,
        "position": {"type": "integer", "minimum": 1},
        "description": {"type": ["string", "null"]},
        "showcase": {"type": "boolean"},
        "start_date": {"type": ["string", "null"], "format": "date"},
        "group_id": {"type": ["string", "null"]},
        "page_id": STRING,
        "group": {"type": "boolean"},
        "only_show_if_degraded": {"type": "boolean"},
    }
)

# A group as Statuspage writes it: a component with ``group: true``, no
# group of its own, and its members' ids in ``components`` (last).
GROUP_COMPONENT = obj(
    COMPONENT["properties"]
    | {
        "group_id": {"type": "null"},
        "group": {"const": True},
        "components": {"type": "array", "items": STRING, "minItems": 1},
    }
)
MEMBER_OR_GROUP = {
    "oneOf": [
        COMPONENT | {"properties": COMPONENT["properties"] | {"group": {"const": False}}},
        GROUP_COMPONENT,
    ]
}


def update_shape(statuses):
    return obj(
        {
            "id": STRING,
            "status": {"enum": statuses},
            "body": STRING,
            "incident_id": STRING,
            "created_at": TIME,
            "updated_at": TIME,
            "display_at": TIME,
            "affected_components": {"type": ["array", "null"]},
        }
    )


INCIDENT_FIELDS = {
    "id": STRING,
    "name": STRING,
    "created_at": TIME,
    "updated_at": TIME,
    "started_at": TIME,
    "monitoring_at": TIME_OR_NULL,
    "resolved_at": TIME_OR_NULL,
    "shortlink": {"type": "string", "pattern": "^https?://"},
    "page_id": STRING,
    "components": {"type": "array", "items": COMPONENT},
}
INCIDENT_STATUSES = ["investigating", "identified", "monitoring", "resolved", "postmortem"]
# Statuspage's four, and "cancelled" for a window called off before it began.
MAINTENANCE_STATUSES = ["scheduled", "in_progress", "verifying", "completed", "cancelled"]
INCIDENT = obj(
    INCIDENT_FIELDS
    | {
        "status": {"enum": INCIDENT_STATUSES},
        "impact": {"enum": ["none", "minor", "major", "critical"]},
        "incident_updates": {"type": "array", "items": update_shape(INCIDENT_STATUSES)},
    }
)
MAINTENANCE = obj(
    INCIDENT_FIELDS
    | {
        "status": {"enum": MAINTENANCE_STATUSES},
        "impact": {"const": "maintenance"},
        "scheduled_for": TIME,
        "scheduled_until": TIME,
        "incident_updates": {"type": "array", "items": update_shape(MAINTENANCE_STATUSES)},
    }
)


def listing(key, item):
    return obj({"page": PAGE, key: {"type": "array", "items": item}})


SHAPES = {
    "/api/v2/status.json": obj({"page": PAGE, "status": STATUS}),
    "/api/v2/summary.json": obj(
        {
            "page": PAGE,
            "status": STATUS,
            "components": {"type": "array", "items": MEMBER_OR_GROUP},
            "incidents": {"type": "array", "items": INCIDENT},
            "scheduled_maintenances": {"type": "array", "items": MAINTENANCE},
        }
    ),
    "/api/v2/components.json": listing("components", MEMBER_OR_GROUP),
    "/api/v2/incidents.json": listing("incidents", INCIDENT),
    "/api/v2/incidents/unresolved.json": listing("incidents", INCIDENT),
    "/api/v2/scheduled-maintenances.json": listing("scheduled_maintenances", MAINTENANCE),
    "/api/v2/scheduled-maintenances/upcoming.json": listing("scheduled_maintenances", MAINTENANCE),
    "/api/v2/scheduled-maintenances/active.json": listing("scheduled_maintenances", MAINTENANCE),
}


def assert_shape(path, data):
    errors = sorted(
        Draft202012Validator(SHAPES[path], format_checker=formats).iter_errors(data),
        key=lambda error: list(error.absolute_path),
    )
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


# --- States of the service ------------------------------------------------------


def calm(make_monitor, make_incident):
    """Everything up; some history (a resolved incident, a finished window)."""
    make_monitor(id="mon_api001", name="API")
    make_monitor(id="mon_db0001", name="Database")
    with time_machine.travel(NOW - 48 * HOUR, tick=False):
        incident = make_incident(title="Yesterday's blip", monitor_ids=["mon_api001"])
        incident.post_update("monitoring", "A fix is out.", at=NOW - 47 * HOUR)
        incident.resolve("All good.", at=NOW - 46 * HOUR)
        make_incident(
            title="Last week's upgrade",
            message="Planned.",
            monitor_ids=["mon_db0001"],
            scheduled_start=NOW - 30 * HOUR,
            scheduled_end=NOW - 29 * HOUR,
        )


def degraded(make_monitor, make_incident):
    calm(make_monitor, make_incident)
    with time_machine.travel(NOW - HOUR, tick=False):
        Monitor.objects.get(pk="mon_api001").report_status(Monitor.DEGRADED)
        make_incident(title="Slow API", message="Looking into it.", monitor_ids=["mon_api001"])


def partial_outage(make_monitor, make_incident):
    calm(make_monitor, make_incident)
    make_monitor(id="mon_web001", name="Website")
    with time_machine.travel(NOW - HOUR, tick=False):
        Monitor.objects.get(pk="mon_api001").report_status(Monitor.DOWN)
        make_incident(title="API down", message="On it.", monitor_ids=["mon_api001"])


def major_outage(make_monitor, make_incident):
    calm(make_monitor, make_incident)
    with time_machine.travel(NOW - HOUR, tick=False):
        for monitor in Monitor.objects.all():
            monitor.report_status(Monitor.DOWN)
        make_incident(
            title="Everything is down",
            message="All hands.",
            monitor_ids=["mon_api001", "mon_db0001"],
        )


def maintenance(make_monitor, make_incident):
    calm(make_monitor, make_incident)
    with time_machine.travel(NOW - 24 * HOUR, tick=False):
        make_incident(
            title="Database upgrade",
            message="Scheduled.",
            monitor_ids=["mon_db0001"],
            scheduled_start=NOW - HOUR,
            scheduled_end=NOW + HOUR,
        )
        make_incident(
            title="Network work",
            message="Scheduled for tomorrow.",
            monitor_ids=["mon_api001"],
            scheduled_start=NOW + 24 * HOUR,
            scheduled_end=NOW + 26 * HOUR,
        )


def grouped(make_monitor, make_incident):
    """Groups (issue 17): one with a monitor down, one calm, one monitor in none."""
    from incidents.groups.models import MonitorGroup

    calm(make_monitor, make_incident)
    MonitorGroup.create_group(id="grp_core", name="Core", description="APIs.", position=1)
    MonitorGroup.create_group(id="grp_edge", name="Edge", position=2)
    Monitor.objects.get(pk="mon_api001").change(group_id="grp_core", description="REST.")
    Monitor.objects.get(pk="mon_db0001").change(group_id="grp_edge")
    make_monitor(id="mon_web001", name="Website", group_id="grp_core", position=1)
    make_monitor(id="mon_cdn001", name="CDN", position=5)
    with time_machine.travel(NOW - HOUR, tick=False):
        Monitor.objects.get(pk="mon_web001").report_status(Monitor.DOWN)


STATES = {
    "calm": (calm, "none"),
    "grouped": (grouped, "major"),
    "degraded": (degraded, "minor"),
    "partial_outage": (partial_outage, "major"),
    "major_outage": (major_outage, "critical"),
    "maintenance": (maintenance, "maintenance"),
}


@pytest.fixture(autouse=True)
def page_settings(settings):
    settings.KAMUSTATUS_PAGE_NAME = "Kamustatus"
    settings.KAMUSTATUS_PAGE_URL = "http://testserver.invalid"
    settings.KAMUSTATUS_TIME_ZONE = "Etc/UTC"


@pytest.fixture
def at_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(params=list(STATES))
def state(request, at_now, make_monitor, make_incident):
    setup, indicator = STATES[request.param]
    setup(make_monitor, make_incident)
    return indicator


def get_json(client, path, **headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json; charset=utf-8"
    return json.loads(response.content)


# --- Shapes in every state ------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
def test_each_endpoint_has_statuspage_shape_in_every_state(client, state, at_now, path):
    data = get_json(client, path)
    assert_shape(path, data)
    if "status" in data:
        assert data["status"]["indicator"] == state


def test_the_shapes_catch_a_wrong_field(client, make_monitor, make_incident, at_now):
    """The schemas above are strict enough to fail on a renamed or mistyped field."""
    degraded(make_monitor, make_incident)
    data = get_json(client, "/api/v2/summary.json")
    data["incidents"][0]["title"] = data["incidents"][0].pop("name")
    with pytest.raises(AssertionError):
        assert_shape("/api/v2/summary.json", data)
    data = get_json(client, "/api/v2/summary.json")
    data["components"][0]["position"] = "1"
    with pytest.raises(AssertionError):
        assert_shape("/api/v2/summary.json", data)


# --- What the documents say -----------------------------------------------------


def test_groups_are_group_components_as_statuspage_writes_them(
    client, make_monitor, make_incident, at_now
):
    grouped(make_monitor, make_incident)
    for path in ("/api/v2/summary.json", "/api/v2/components.json"):
        components = get_json(client, path)["components"]
        assert [
            (c["id"], c["status"], c["position"], c["group"], c["group_id"]) for c in components
        ] == [
            ("grp_core", "major_outage", 1, True, None),
            ("mon_api001", "operational", 1, False, "grp_core"),
            ("mon_web001", "major_outage", 2, False, "grp_core"),
            ("grp_edge", "operational", 2, True, None),
            ("mon_db0001", "operational", 1, False, "grp_edge"),
            ("mon_cdn001", "operational", 3, False, None),
        ]
        core = components[0]
        assert core["components"] == ["mon_api001", "mon_web001"]
        assert list(core)[-2:] == ["only_show_if_degraded", "components"]
        assert (core["name"], core["description"]) == ("Core", "APIs.")
        assert components[1]["description"] == "REST."
        assert "components" not in components[1]


def test_the_group_shape_catches_a_group_without_members(
    client, make_monitor, make_incident, at_now
):
    grouped(make_monitor, make_incident)
    data = get_json(client, "/api/v2/summary.json")
    data["components"][0]["components"] = []
    with pytest.raises(AssertionError):
        assert_shape("/api/v2/summary.json", data)
    data = get_json(client, "/api/v2/summary.json")
    del data["components"][0]["components"]
    with pytest.raises(AssertionError):
        assert_shape("/api/v2/summary.json", data)


def test_status_descriptions_follow_the_status_page(client, state, at_now):
    descriptions = {
        "none": "All systems operational",
        "minor": "Degraded performance",
        "major": "Partial outage",
        "critical": "Major outage",
        "maintenance": "Under maintenance",
    }
    status = get_json(client, "/api/v2/status.json")["status"]
    assert status == {"indicator": state, "description": descriptions[state]}


def test_components_are_the_monitors_with_their_states(client, make_monitor, make_incident, at_now):
    maintenance(make_monitor, make_incident)
    make_monitor(id="mon_slow01", name="Slow one", status=Monitor.DEGRADED)
    make_monitor(id="mon_down01", name="Down one", status=Monitor.DOWN)
    components = get_json(client, "/api/v2/components.json")["components"]
    assert [(c["id"], c["name"], c["status"], c["position"]) for c in components] == [
        ("mon_api001", "API", "operational", 1),
        ("mon_db0001", "Database", "under_maintenance", 2),
        # Created in the same second: the status page's order breaks ties by id.
        ("mon_down01", "Down one", "major_outage", 3),
        ("mon_slow01", "Slow one", "degraded_performance", 4),
    ]
    page = get_json(client, "/api/v2/status.json")["page"]
    assert {c["page_id"] for c in components} == {page["id"]}


def test_summary_holds_unresolved_incidents_and_current_maintenances(
    client, make_monitor, make_incident, at_now
):
    maintenance(make_monitor, make_incident)
    with time_machine.travel(NOW - HOUR, tick=False):
        make_incident(title="Slow API", message="Looking.", monitor_ids=["mon_api001"])
    summary = get_json(client, "/api/v2/summary.json")
    assert [i["name"] for i in summary["incidents"]] == ["Slow API"]
    assert [(m["name"], m["status"]) for m in summary["scheduled_maintenances"]] == [
        ("Database upgrade", "in_progress"),
        ("Network work", "scheduled"),
    ]
    # Nothing down, an incident open: degraded beats maintenance.
    assert summary["status"]["indicator"] == "minor"


def test_an_incident_reads_like_a_statuspage_incident(client, make_monitor, make_incident):
    make_monitor(id="mon_api001", name="API", status=Monitor.DOWN)
    with time_machine.travel(NOW - HOUR, tick=False):
        incident = make_incident(
            title="API errors", message="Investigating.", monitor_ids=["mon_api001"]
        )
    incident.post_update("identified", "Found it.", at=NOW - 50 * timedelta(minutes=1))
    incident.post_update("monitoring", "Fixed, watching.", at=NOW - 20 * timedelta(minutes=1))
    with time_machine.travel(NOW, tick=False):
        data = get_json(client, "/api/v2/incidents/unresolved.json")
    (item,) = data["incidents"]
    assert item["id"] == incident.id
    assert item["name"] == "API errors"
    assert item["status"] == "monitoring"
    assert item["impact"] == "critical"  # its monitor is down
    assert item["started_at"] == "2026-03-10T11:00:00Z"
    assert item["monitoring_at"] == "2026-03-10T11:40:00Z"
    assert item["resolved_at"] is None
    assert item["shortlink"] == f"http://testserver.invalid/incidents/{incident.id}/"
    assert [c["id"] for c in item["components"]] == ["mon_api001"]
    # Newest first, as Statuspage lists them.
    assert [(u["status"], u["body"], u["created_at"]) for u in item["incident_updates"]] == [
        ("monitoring", "Fixed, watching.", "2026-03-10T11:40:00Z"),
        ("identified", "Found it.", "2026-03-10T11:10:00Z"),
        ("investigating", "Investigating.", "2026-03-10T11:00:00Z"),
    ]
    assert {u["incident_id"] for u in item["incident_updates"]} == {incident.id}


def test_incident_impact_is_minor_without_failing_monitors(client, make_incident, at_now):
    make_incident(title="Something odd")
    (item,) = get_json(client, "/api/v2/incidents.json")["incidents"]
    assert item["impact"] == "minor"
    assert item["components"] == []


def test_incidents_list_is_newest_first_without_maintenance_and_capped(
    client, make_incident, at_now
):
    for number in range(53):
        with time_machine.travel(NOW - (60 - number) * HOUR, tick=False):
            make_incident(title=f"Incident {number}").resolve("Done.")
    make_incident(
        title="A window",
        message="Planned.",
        scheduled_start=NOW + HOUR,
        scheduled_end=NOW + 2 * HOUR,
    )
    names = [i["name"] for i in get_json(client, "/api/v2/incidents.json")["incidents"]]
    assert names == [f"Incident {number}" for number in range(52, 2, -1)]
    assert get_json(client, "/api/v2/incidents/unresolved.json")["incidents"] == []


def database_upgrade(make_monitor, make_incident):
    """A two-hour window from NOW on a Database monitor, scheduled a day before."""
    make_monitor(id="mon_db0001", name="Database")
    with time_machine.travel(NOW - 24 * HOUR, tick=False):
        return make_incident(
            title="Database upgrade",
            message="Scheduled for tomorrow.",
            monitor_ids=["mon_db0001"],
            scheduled_start=NOW,
            scheduled_end=NOW + 2 * HOUR,
        )


def test_maintenance_status_and_timeline_follow_the_window(client, make_monitor, make_incident):
    window = database_upgrade(make_monitor, make_incident)
    window.post_update(message="Started.", at=NOW + timedelta(minutes=1))
    window.post_update("resolved", "Done early.", at=NOW + HOUR)

    with time_machine.travel(NOW - HOUR, tick=False):
        (item,) = get_json(client, "/api/v2/scheduled-maintenances.json")["scheduled_maintenances"]
    # Resolved early: completed whatever the clock says.
    assert item["status"] == "completed"
    assert item["scheduled_for"] == "2026-03-10T12:00:00Z"
    assert item["scheduled_until"] == "2026-03-10T14:00:00Z"
    assert item["resolved_at"] == "2026-03-10T13:00:00Z"
    assert [(u["status"], u["body"]) for u in item["incident_updates"]] == [
        ("completed", "Done early."),
        ("in_progress", "Started."),
        ("scheduled", "Scheduled for tomorrow."),
    ]


def test_a_window_called_off_before_it_began_is_cancelled_never_completed(
    client, make_monitor, make_incident
):
    window = database_upgrade(make_monitor, make_incident)
    window.post_update("resolved", "Not needed after all.", at=NOW - 2 * HOUR)
    for moment in (NOW - HOUR, NOW + 3 * HOUR):
        with time_machine.travel(moment, tick=False):
            data = get_json(client, "/api/v2/scheduled-maintenances.json")
        (item,) = data["scheduled_maintenances"]
        assert item["status"] == "cancelled"
        assert item["resolved_at"] == "2026-03-10T10:00:00Z"
        assert [u["status"] for u in item["incident_updates"]] == ["cancelled", "scheduled"]


def test_maintenance_moves_by_the_clock_without_any_write(client, make_monitor, make_incident):
    """Never stale: the cached documents expire at the window's edges."""
    make_monitor(id="mon_db0001", name="Database")
    with time_machine.travel(NOW - 24 * HOUR, tick=False):
        make_incident(
            title="Database upgrade",
            message="Scheduled.",
            monitor_ids=["mon_db0001"],
            scheduled_start=NOW,
            scheduled_end=NOW + HOUR,
        )

    def look():
        summary = get_json(client, "/api/v2/summary.json")
        upcoming = get_json(client, "/api/v2/scheduled-maintenances/upcoming.json")
        active = get_json(client, "/api/v2/scheduled-maintenances/active.json")
        everything = get_json(client, "/api/v2/scheduled-maintenances.json")
        return (
            summary["status"]["indicator"],
            summary["components"][0]["status"],
            len(upcoming["scheduled_maintenances"]),
            len(active["scheduled_maintenances"]),
            everything["scheduled_maintenances"][0]["status"],
            everything["scheduled_maintenances"][0]["resolved_at"],
        )

    with time_machine.travel(NOW - timedelta(seconds=1), tick=False):
        assert look() == ("none", "operational", 1, 0, "scheduled", None)
    with time_machine.travel(NOW, tick=False):
        assert look() == ("maintenance", "under_maintenance", 0, 1, "in_progress", None)
    with time_machine.travel(NOW + HOUR, tick=False):
        assert look() == ("none", "operational", 0, 0, "completed", "2026-03-10T13:00:00Z")


def test_a_write_shows_at_once(client, make_monitor, at_now):
    make_monitor(id="mon_api001", name="API")
    assert get_json(client, "/api/v2/status.json")["status"]["indicator"] == "none"
    Monitor.objects.get(pk="mon_api001").report_status(Monitor.DOWN)
    assert get_json(client, "/api/v2/status.json")["status"]["indicator"] == "critical"
    assert get_json(client, "/api/v2/components.json")["components"][0]["status"] == (
        "major_outage"
    )


def test_page_names_this_installation(client, make_monitor, at_now):
    make_monitor(id="mon_api001", name="API")
    page = get_json(client, "/api/v2/status.json")["page"]
    assert page["name"] == "Kamustatus"
    assert page["url"] == "http://testserver.invalid"
    assert page["time_zone"] == "Etc/UTC"
    assert page["updated_at"] == "2026-03-10T12:00:00Z"


@override_settings(
    KAMUSTATUS_PAGE_NAME="Acme Status",
    KAMUSTATUS_PAGE_URL="https://status.acme.test/",
    KAMUSTATUS_TIME_ZONE="Europe/Helsinki",
)
def test_page_name_url_and_time_zone_come_from_settings(client, make_incident, at_now):
    incident = make_incident(title="Acme trouble")
    data = get_json(client, "/api/v2/incidents.json")
    assert data["page"]["name"] == "Acme Status"
    assert data["page"]["url"] == "https://status.acme.test"
    assert data["page"]["time_zone"] == "Europe/Helsinki"
    # Timestamps in the page's time zone, with its offset, as Statuspage does.
    assert data["page"]["updated_at"] == "2026-03-10T14:00:00+02:00"
    (item,) = data["incidents"]
    assert item["created_at"] == "2026-03-10T14:00:00+02:00"
    assert item["shortlink"] == f"https://status.acme.test/incidents/{incident.id}/"


def test_page_id_is_stable_and_differs_between_pages(db):
    assert Page.for_request().id == Page.for_request().id
    with override_settings(KAMUSTATUS_PAGE_URL="https://status.other.test"):
        other = Page.for_request().id
    assert other != Page.for_request().id


@override_settings(KAMUSTATUS_TIME_ZONE="Mars/Olympus_Mons")
def test_an_unknown_time_zone_is_a_configuration_error(db):
    with pytest.raises(ImproperlyConfigured, match="PAGE_TIME_ZONE"):
        Page.for_request()


# --- A consumer -----------------------------------------------------------------


def statuspage_consumer(base_url):
    """What a dashboard or chat bot does with any Statuspage page: fetch the
    summary, read the documented fields, report what is wrong."""
    with urllib.request.urlopen(base_url + "/api/v2/summary.json", timeout=10) as response:
        summary = json.load(response)
    return {
        "page": summary["page"]["name"],
        "indicator": summary["status"]["indicator"],
        "description": summary["status"]["description"],
        "broken": sorted(
            component["name"]
            for component in summary["components"]
            if component["status"] != "operational"
        ),
        "incidents": [
            (incident["name"], incident["impact"], incident["incident_updates"][0]["body"])
            for incident in summary["incidents"]
        ],
        "maintenances": [
            (m["name"], m["status"], m["scheduled_for"]) for m in summary["scheduled_maintenances"]
        ],
    }


def test_a_statuspage_consumer_reads_our_summary(live_server, transactional_db):
    Monitor.create_monitor(id="mon_api001", name="API")
    Monitor.create_monitor(id="mon_db0001", name="Database")
    Monitor.create_monitor(id="mon_web001", name="Website")
    assert statuspage_consumer(live_server.url)["indicator"] == "none"

    Monitor.objects.get(pk="mon_web001").report_status(Monitor.DOWN)
    incident = Incident.open_incident(
        title="Website unreachable", message="Investigating.", monitor_ids=["mon_web001"]
    )
    incident.post_update("identified", "A bad deploy; rolling back.")
    seen = statuspage_consumer(live_server.url)
    assert seen["page"] == "Kamustatus"
    assert seen["indicator"] == "major"
    assert seen["description"] == "Partial outage"
    assert seen["broken"] == ["Website"]
    assert seen["incidents"] == [("Website unreachable", "critical", "A bad deploy; rolling back.")]

    Monitor.objects.get(pk="mon_api001").report_status(Monitor.DOWN)
    assert statuspage_consumer(live_server.url)["indicator"] == "critical"


# --- HTTP: caching, CORS, methods -----------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
def test_an_unchanged_document_is_not_sent_again(client, make_monitor, at_now, path):
    make_monitor(id="mon_api001", name="API")
    first = client.get(path)
    etag = first["ETag"]
    assert first["Cache-Control"] == "no-cache"
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert client.get(path, headers={"If-None-Match": "W/" + etag}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"other", ' + etag}).status_code == 304
    assert client.get(path, headers={"If-None-Match": "*"}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200

    Monitor.objects.get(pk="mon_api001").report_status(Monitor.DEGRADED)
    changed = client.get(path, headers={"If-None-Match": etag})
    if path in ("/api/v2/status.json", "/api/v2/summary.json", "/api/v2/components.json"):
        assert changed.status_code == 200
        assert changed["ETag"] != etag
    else:  # the same bytes (the clock is frozen): the client's copy is still right
        assert changed.status_code == 304


@pytest.mark.parametrize("path", [*ENDPOINTS, "/badge.svg"])
def test_a_client_accepting_gzip_gets_the_document_compressed(
    client, make_monitor, make_incident, at_now, path
):
    """As browsers, curl --compressed and HTTP libraries ask: the same bytes
    gzip-compressed, under the weak form of the plain answer's ETag."""
    for number in range(20):
        make_monitor(id=f"mon_api{number:03d}", name=f"Service {number}")
        make_incident(title=f"Trouble {number}", monitor_ids=[f"mon_api{number:03d}"])
    plain = client.get(path)
    packed = client.get(path, headers={"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain
    assert packed["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.content) == plain.content
    assert len(packed.content) < len(plain.content)
    assert packed["ETag"] == "W/" + plain["ETag"]
    for response in (plain, packed):
        assert "Accept-Encoding" in response["Vary"]
    again = client.get(path, headers={"Accept-Encoding": "gzip", "If-None-Match": packed["ETag"]})
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", packed["ETag"])


def test_a_cached_document_costs_at_most_one_query(
    client, make_monitor, make_incident, at_now, django_assert_max_num_queries
):
    degraded(make_monitor, make_incident)
    for path in ENDPOINTS:
        client.get(path)
    for path in ENDPOINTS:
        with django_assert_max_num_queries(1):  # the database cache; none with Redis
            assert client.get(path).status_code == 200


def count_queries(client, path):
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_query_count_does_not_grow_with_history(client, make_monitor, make_incident, at_now):
    make_monitor(id="mon_api001", name="API")
    make_monitor(id="mon_db0001", name="Database")

    def add_history(count):
        for number in range(count):
            with time_machine.travel(NOW - (number + 2) * HOUR, tick=False):
                incident = make_incident(title=f"Old {number}", monitor_ids=["mon_api001"])
                incident.post_update("identified", "Found.")
                incident.resolve("Done.")
                make_incident(
                    title=f"Window {number}",
                    message="Planned.",
                    monitor_ids=["mon_db0001"],
                    scheduled_start=NOW + (number + 1) * HOUR,
                    scheduled_end=NOW + (number + 2) * HOUR,
                )
        with time_machine.travel(NOW - HOUR, tick=False):
            make_incident(title=f"Ongoing {count}", monitor_ids=["mon_api001"])

    add_history(2)
    small = {path: count_queries(client, path) for path in ENDPOINTS}
    add_history(30)
    large = {path: count_queries(client, path) for path in ENDPOINTS}
    assert large == small


def test_cors_is_open_on_every_public_document(client, make_monitor, at_now):
    make_monitor(id="mon_api001", name="API")
    for path in ENDPOINTS:
        response = client.get(path, headers={"Origin": "https://dashboard.example"})
        assert response["Access-Control-Allow-Origin"] == "*"
        assert "ETag" in response["Access-Control-Expose-Headers"]


def test_a_preflight_is_answered(client):
    response = client.options(
        "/api/v2/summary.json",
        headers={
            "Origin": "https://dashboard.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "GET" in response["Access-Control-Allow-Methods"]
    assert response["Access-Control-Allow-Headers"] == "If-None-Match"


@pytest.mark.parametrize("path", ["/api/incidents", "/api/monitors", "/admin/login/"])
def test_cors_stays_closed_elsewhere(client, db, path):
    response = client.get(path, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_documents_are_read_only(client, db, method):
    response = getattr(client, method)(
        "/api/v2/summary.json", data={}, content_type="application/json"
    )
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert json.loads(response.content)["error"]["code"] == "method_not_allowed"
    assert response["Access-Control-Allow-Origin"] == "*"


def test_an_unknown_public_document_is_a_json_404_without_a_key(client, db):
    response = client.get("/api/v2/pages.json")
    assert response.status_code == 404
    assert json.loads(response.content)["error"]["code"] == "not_found"
    assert response["Access-Control-Allow-Origin"] == "*"


def test_user_text_is_carried_as_text(client, make_monitor, make_incident, at_now):
    make_monitor(id="mon_api001", name='<b>API</b> & "co"')
    make_incident(title="<script>alert(1)</script>", message="Use <em>care</em> & patience")
    data = get_json(client, "/api/v2/summary.json")
    assert data["components"][0]["name"] == '<b>API</b> & "co"'
    assert data["incidents"][0]["name"] == "<script>alert(1)</script>"
    assert data["incidents"][0]["incident_updates"][0]["body"] == "Use <em>care</em> & patience"


def test_head_answers_like_get(client, make_monitor, at_now):
    make_monitor(id="mon_api001", name="API")
    get = client.get("/api/v2/status.json")
    head = client.head("/api/v2/status.json")
    assert head.status_code == 200
    assert head["ETag"] == get["ETag"]
    assert head["Access-Control-Allow-Origin"] == "*"


# --- The cache underneath ---------------------------------------------------------


def test_a_write_during_a_rebuild_is_not_hidden(db):
    """The generation is read before the data: a write that lands while a
    document is being built leaves the stored copy out of date, never current."""
    calls = []

    def build_racing_a_write(now):
        calls.append(now)
        generation.bump()  # another process writes while we read
        return b"before the write"

    assert cached_body("race", build_racing_a_write).body == b"before the write"
    assert cached_body("race", lambda now: b"after the write").body == b"after the write"
    # And once nothing changes, the stored copy is served without rebuilding.
    assert cached_body("race", lambda now: pytest.fail("rebuilt")).body == b"after the write"


def test_a_cache_outage_costs_speed_not_answers(client, make_monitor, at_now, monkeypatch):
    make_monitor(id="mon_api001", name="API", status=Monitor.DOWN)

    def broken(*args, **kwargs):
        raise ConnectionError("cache is down")

    monkeypatch.setattr(public_cached.cache, "get_many", broken)
    monkeypatch.setattr(store, "read_many", broken)  # the one read of every shelf
    monkeypatch.setattr(public_cached.cache, "set", broken)
    assert get_json(client, "/api/v2/status.json")["status"]["indicator"] == "critical"
    assert client.get("/badge.svg").status_code == 200


def test_a_resolved_incident_keeps_the_impact_it_had(client, make_monitor, make_incident):
    """Impact of history comes from what the monitors did while the incident
    was open, not from what they do now."""
    make_monitor(id="mon_api001", name="API")
    make_monitor(id="mon_db0001", name="Database")
    make_monitor(id="mon_web001", name="Website")
    api = Monitor.objects.get(pk="mon_api001")
    database = Monitor.objects.get(pk="mon_db0001")
    website = Monitor.objects.get(pk="mon_web001")

    def at(hours, action):
        with time_machine.travel(NOW + hours * HOUR, tick=False):
            return action()

    # The API was already down when its incident was opened; back before the end.
    at(-10, lambda: api.report_status(Monitor.DOWN))
    down_before = at(-9, lambda: make_incident(title="API down", monitor_ids=["mon_api001"]))
    at(-8, lambda: api.report_status(Monitor.OPERATIONAL))
    at(-7, lambda: down_before.resolve("Fixed."))
    # The database went down and came back while its incident was open.
    down_during = at(-6, lambda: make_incident(title="DB down", monitor_ids=["mon_db0001"]))
    at(-5, lambda: database.report_status(Monitor.DOWN))
    at(-4.5, lambda: database.report_status(Monitor.OPERATIONAL))
    at(-4, lambda: down_during.resolve("Better."))
    # The website was fine throughout its incident; it went down afterwards.
    calm_then = at(-3, lambda: make_incident(title="Web odd", monitor_ids=["mon_web001"]))
    at(-2, lambda: calm_then.resolve("Nothing wrong."))
    at(-1, lambda: website.report_status(Monitor.DOWN))

    with time_machine.travel(NOW, tick=False):
        items = get_json(client, "/api/v2/incidents.json")["incidents"]
    assert {item["name"]: item["impact"] for item in items} == {
        "API down": "critical",
        "DB down": "critical",
        "Web odd": "minor",
    }
