"""/api/incidents and /api/incidents/:id — creating, changing, deleting,
listing with filters and cursor paging, and what it costs."""

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

from incidents.models import AuditRecord, Incident, IncidentUpdate

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

# What the cache costs in queries: nothing with Redis; with the default database
# cache, one lookup, and for storing an answer one upsert.
DATABASE_CACHE = "DatabaseCache" in settings.CACHES["default"]["BACKEND"]
CACHE_READ_QUERIES = 1 if DATABASE_CACHE else 0
CACHE_WRITE_QUERIES = 1 if DATABASE_CACHE else 0

STATUSES = "investigating, identified, monitoring, resolved"
NOW = datetime(2025, 5, 20, 10, 0, tzinfo=UTC)


def fields_of(response):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    return error["fields"]


@pytest.fixture
def monitors(make_monitor):
    return [make_monitor(id="mon_abc123").id, make_monitor(id="mon_def456").id]


@pytest.fixture
def travel():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def create(api, **fields):
    body = {"title": "Errors on checkout", "message": "Looking into it.", **fields}
    response = api("POST", "/api/incidents", body)
    assert response.status_code == 201, response.content
    return response.json()


# --- POST /api/incidents -------------------------------------------------------------


def test_it_creates_an_incident_with_its_first_update(api, monitors, travel):
    body = create(api, monitorIds=["mon_def456", "mon_abc123"])
    assert body["status"] == "investigating"
    assert body["monitorIds"] == ["mon_def456", "mon_abc123"]
    assert body["startedAt"] == "2025-05-20T10:00:00Z"
    assert [u["message"] for u in body["updates"]] == ["Looking into it."]
    stored = Incident.objects.get(pk=body["id"])
    assert stored.monitor_ids == ["mon_def456", "mon_abc123"]
    record = AuditRecord.objects.get(object_id=body["id"], action="created")
    assert record.api_key is not None


def test_it_trims_the_title(api):
    assert create(api, title="  Errors  ")["title"] == "Errors"


def test_it_requires_title_and_message(api):
    fields = fields_of(api("POST", "/api/incidents", {}))
    assert fields == {"title": "is required", "message": "is required"}


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("title", None, "must not be null"),
        ("title", 5, "must be a string"),
        ("title", True, "must be a string"),
        ("title", ["x"], "must be a string"),
        ("title", "   ", "must not be empty"),
        ("title", "x" * 201, "must be at most 200 characters"),
        ("title", "a\x00b", "must not contain NUL characters or unpaired surrogates"),
        ("message", "\ud800", "must not contain NUL characters or unpaired surrogates"),
        ("message", "", "must not be empty"),
        ("message", None, "must not be null"),
        ("status", "closed", f"must be one of: {STATUSES}"),
        ("status", None, "must not be null"),
        ("status", 1, f"must be one of: {STATUSES}"),
        ("monitorIds", "mon_abc123", "must be an array of strings"),
        ("monitorIds", [1], "must be an array of strings"),
        ("monitorIds", None, "must not be null"),
        ("monitorIds", ["mon_nope"], "unknown monitor ids: mon_nope"),
        ("monitorIds", ["mon_abc123", "mon_abc123"], "duplicate monitor ids: mon_abc123"),
        ("monitorIds", ["mon_abc123"] * 101, "must have at most 100 items"),
        ("maintenance", "true", "must be true or false"),
        ("maintenance", 1, "must be true or false"),
        ("maintenance", None, "must not be null"),
        ("id", "inc_mine", "is read-only and cannot be set here"),
        ("updates", [], "is read-only and cannot be set here"),
    ],
)
def test_it_refuses_bad_fields_and_writes_nothing(api, monitors, field, value, complaint):
    body = {"title": "Down", "message": "Looking.", field: value}
    assert fields_of(api("POST", "/api/incidents", body)) == {field: complaint}
    assert Incident.objects.count() == 0
    assert AuditRecord.objects.filter(object_type="incident").count() == 0


def test_it_refuses_unknown_fields_naming_the_allowed_ones(api):
    fields = fields_of(api("POST", "/api/incidents", {"title": "x", "message": "y", "sev": 1}))
    assert fields == {
        "sev": "unknown field; allowed: title, status, message, monitorIds, maintenance, "
        "scheduledStart, scheduledEnd, notify"
    }


def test_it_reports_every_bad_field_at_once(api):
    fields = fields_of(api("POST", "/api/incidents", {"title": 1, "status": "x", "extra": 1}))
    assert set(fields) == {"title", "status", "message", "extra"}


def test_it_creates_a_maintenance_window_with_offsets_normalised_to_utc(api, monitors, travel):
    body = create(
        api,
        maintenance=True,
        monitorIds=monitors,
        scheduledStart="2025-06-01T04:00:00+02:00",
        scheduledEnd="2025-06-01T01:30:00.999-02:30",
    )
    assert (body["maintenance"], body["scheduledStart"], body["scheduledEnd"]) == (
        True,
        "2025-06-01T02:00:00Z",
        "2025-06-01T04:00:00Z",
    )
    assert body["startedAt"] == "2025-06-01T02:00:00Z"


@pytest.mark.parametrize(
    ("schedule", "fields"),
    [
        ({}, {"scheduledStart": "is required for a maintenance window",
              "scheduledEnd": "is required for a maintenance window"}),
        ({"scheduledStart": "2025-06-01T02:00:00Z", "scheduledEnd": None},
         {"scheduledEnd": "is required for a maintenance window"}),
        ({"scheduledStart": "2025-06-01T02:00:00Z", "scheduledEnd": "2025-06-01T01:00:00Z"},
         {"scheduledEnd": "must be after scheduledStart"}),
        ({"scheduledStart": "2025-06-01T02:00:00Z", "scheduledEnd": "2025-06-01T02:00:00Z"},
         {"scheduledEnd": "must be after scheduledStart"}),
        ({"scheduledStart": "2025-06-01T02:00:00", "scheduledEnd": "2025-06-01T04:00:00Z"},
         {"scheduledStart": "must include a timezone: Z for UTC or an offset such as +02:00 "
                            "(e.g. 2025-06-01T02:00:00Z)"}),
        ({"scheduledStart": "2025-06-01", "scheduledEnd": "2025-06-01T04:00:00Z"},
         {"scheduledStart": "must be an RFC 3339 timestamp such as 2025-06-01T02:00:00Z"}),
        ({"scheduledStart": "2025-02-30T02:00:00Z", "scheduledEnd": "2025-06-01T04:00:00Z"},
         {"scheduledStart": "is not a valid date and time"}),
        ({"scheduledStart": "2025-06-01T02:00:00+25:00", "scheduledEnd": "2025-06-01T04:00:00Z"},
         {"scheduledStart": "is not a valid date and time"}),
        ({"scheduledStart": 1748743200, "scheduledEnd": "2025-06-01T04:00:00Z"},
         {"scheduledStart": "must be an RFC 3339 timestamp string such as 2025-06-01T02:00:00Z"}),
    ],
)  # fmt: skip
def test_it_refuses_a_bad_window(api, schedule, fields):
    body = {"title": "Upgrade", "message": "Planned.", "maintenance": True, **schedule}
    assert fields_of(api("POST", "/api/incidents", body)) == fields
    assert Incident.objects.count() == 0


@pytest.mark.parametrize("maintenance", [False, None])
def test_only_maintenance_windows_have_a_schedule(api, maintenance):
    body = {"title": "Upgrade", "message": "Planned.", "scheduledStart": "2025-06-01T02:00:00Z"}
    if maintenance is not None:
        body["maintenance"] = maintenance
    assert fields_of(api("POST", "/api/incidents", body)) == {
        "scheduledStart": 'only maintenance windows ("maintenance": true) have a schedule'
    }


def test_a_plain_incident_may_send_null_schedules(api):
    body = create(api, maintenance=False, scheduledStart=None, scheduledEnd=None)
    assert body["maintenance"] is False
    assert body["scheduledStart"] is None


# --- GET /api/incidents/:id ------------------------------------------------------------


def test_it_shows_one_incident(api, make_incident):
    incident = make_incident()
    response = api("GET", f"/api/incidents/{incident.id}")
    assert response.status_code == 200
    assert response.json() == Incident.objects.with_timeline().get(pk=incident.pk).to_dict()


def test_showing_an_incident_costs_a_fixed_handful_of_queries(
    api, make_incident, monitors, django_assert_num_queries
):
    api("GET", "/api/monitors")  # the key's last use is recorded once a minute
    small = make_incident(monitor_ids=monitors[:1])
    big = make_incident(monitor_ids=monitors)
    for number in range(30):
        big.post_update("identified", f"Update {number}")
    # cache lookup (the key's record with it), incident with its window, updates,
    # monitor links, cache write
    expected = 3 + CACHE_READ_QUERIES + CACHE_WRITE_QUERIES
    for incident in (small, big):
        with django_assert_num_queries(expected):
            assert api("GET", f"/api/incidents/{incident.id}").status_code == 200
    # Unchanged since: the stored bytes, after one cache lookup (the key with them).
    with django_assert_num_queries(CACHE_READ_QUERIES):
        response = api("GET", f"/api/incidents/{big.id}")
    assert len(response.json()["updates"]) == 31


def test_a_cached_incident_is_rebuilt_after_any_write(api, make_incident):
    incident = make_incident()
    assert api("GET", f"/api/incidents/{incident.id}").json()["status"] == "investigating"
    incident.post_update("identified", "Found it.")  # not through the API
    assert api("GET", f"/api/incidents/{incident.id}").json()["status"] == "identified"
    Incident.objects.get(pk=incident.pk).delete()
    assert api("GET", f"/api/incidents/{incident.id}").status_code == 404


# --- PATCH /api/incidents/:id ------------------------------------------------------------


def patch(api, incident_id, body):
    response = api("PATCH", f"/api/incidents/{incident_id}", body)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_status_alone_appends_one_update_with_an_empty_message(api, travel):
    incident = create(api)
    body = patch(api, incident["id"], {"status": "identified"})
    assert [(u["status"], u["message"]) for u in body["updates"]] == [
        ("investigating", "Looking into it."),
        ("identified", ""),
    ]
    assert body["status"] == "identified"


def test_a_message_alone_appends_one_update_with_the_current_status(api):
    incident = create(api, status="monitoring")
    body = patch(api, incident["id"], {"message": "Still watching."})
    assert body["updates"][-1]["status"] == "monitoring"
    assert body["updates"][-1]["message"] == "Still watching."
    assert len(body["updates"]) == 2


def test_status_and_message_together_append_exactly_one_update(api):
    incident = create(api)
    body = patch(api, incident["id"], {"status": "resolved", "message": "Fixed.", "title": "T"})
    assert len(body["updates"]) == 2
    assert body["title"] == "T"


def test_other_fields_are_edited_in_place_without_a_timeline_entry(api, monitors):
    incident = create(api, monitorIds=["mon_abc123"])
    body = patch(api, incident["id"], {"title": " New title ", "monitorIds": monitors[::-1]})
    assert body["title"] == "New title"
    assert body["monitorIds"] == ["mon_def456", "mon_abc123"]
    assert body["updates"] == incident["updates"]
    assert patch(api, incident["id"], {"monitorIds": []})["monitorIds"] == []


def test_resolving_sets_resolved_at_and_reopening_clears_it(api, travel):
    incident = create(api)
    travel.shift(timedelta(minutes=15))
    resolved = patch(api, incident["id"], {"status": "resolved", "message": "Fixed."})
    assert resolved["resolvedAt"] == "2025-05-20T10:15:00Z"
    reopened = patch(api, incident["id"], {"status": "investigating", "message": "Back."})
    assert reopened["resolvedAt"] is None
    assert reopened["status"] == "investigating"


def test_an_empty_patch_is_refused(api):
    incident = create(api)
    response = api("PATCH", f"/api/incidents/{incident['id']}", {})
    assert fields_of(response) == {}
    assert "Nothing to change" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"status": None}, {"status": "must not be null"}),
        ({"message": None}, {"message": "must not be null"}),
        ({"status": "fixed"}, {"status": f"must be one of: {STATUSES}"}),
        ({"title": ""}, {"title": "must not be empty"}),
        ({"maintenance": True}, {"maintenance": "is read-only and cannot be set here"}),
        ({"resolvedAt": None}, {"resolvedAt": "is read-only and cannot be set here"}),
        ({"scheduledStart": "2025-06-01T02:00:00Z"},
         {"scheduledStart": "only maintenance windows have a schedule"}),
        ({"title": "New", "monitorIds": ["mon_nope"]},
         {"monitorIds": "unknown monitor ids: mon_nope"}),
        ({"status": "resolved", "monitorIds": ["mon_nope"]},
         {"monitorIds": "unknown monitor ids: mon_nope"}),
    ],
)  # fmt: skip
def test_a_bad_patch_changes_nothing(api, monitors, body, fields):
    incident = create(api, monitorIds=["mon_abc123"])
    assert fields_of(api("PATCH", f"/api/incidents/{incident['id']}", body)) == fields
    assert api("GET", f"/api/incidents/{incident['id']}").json() == incident


def test_a_window_can_be_moved_and_its_start_is_its_started_at(api):
    window = create(
        api,
        maintenance=True,
        scheduledStart="2025-06-01T02:00:00Z",
        scheduledEnd="2025-06-01T04:00:00Z",
    )
    body = patch(
        api,
        window["id"],
        {"scheduledStart": "2025-06-02T01:00:00+01:00", "scheduledEnd": "2025-06-02T02:00:00Z"},
    )
    assert fields_of(api("PATCH", f"/api/incidents/{window['id']}", {"scheduledEnd": None})) == {
        "scheduledEnd": "must not be null"
    }
    assert body["scheduledStart"] == "2025-06-02T00:00:00Z"
    assert body["startedAt"] == "2025-06-02T00:00:00Z"
    assert fields_of(
        api("PATCH", f"/api/incidents/{window['id']}", {"scheduledEnd": "2025-06-01T23:00:00Z"})
    ) == {"scheduledEnd": "must be after scheduledStart"}
    assert body["updates"] == window["updates"]


def test_patching_a_deleted_incident_answers_404(api):
    incident = create(api)
    assert api("DELETE", f"/api/incidents/{incident['id']}").status_code == 204
    response = api("PATCH", f"/api/incidents/{incident['id']}", {"status": "resolved"})
    assert response.status_code == 404
    assert api("DELETE", f"/api/incidents/{incident['id']}").status_code == 404


def test_deleting_keeps_a_snapshot_naming_the_key(api, api_key):
    incident = create(api)
    assert api("DELETE", f"/api/incidents/{incident['id']}").status_code == 204
    record = AuditRecord.objects.get(object_id=incident["id"], action="deleted")
    assert record.snapshot == incident
    assert record.api_key == api_key[0]
    assert api_key[0].prefix in record.actor
    assert not IncidentUpdate.objects.filter(incident_id=incident["id"]).exists()


# --- GET /api/incidents: order, filters, paging ---------------------------------------------


def ids(response):
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()]


def next_link(response):
    link = response.get("Link")
    if link is None:
        return None
    match = re.fullmatch(r'<http://testserver(/api/incidents\?[^>]+)>; rel="next"', link)
    assert match, link
    return match[1]


@pytest.fixture
def history(make_incident, monitors):
    """Six incidents an hour apart (newest last), two of them sharing a start."""
    made = []
    for hour in range(5):
        made.append(
            make_incident(
                title=f"Incident {hour}",
                at=NOW - timedelta(hours=10 - hour),
                monitor_ids=monitors[: hour % 3],
            )
        )
    made.append(make_incident(title="Twin", at=made[-1].started_at))
    made[1].resolve("Fixed.")
    made[3].post_update("monitoring", "Watching.")
    return made


def newest_first(incidents):
    return [i.id for i in sorted(incidents, key=lambda i: (i.started_at, i.id), reverse=True)]


def test_it_lists_newest_first_breaking_ties_by_id(api, history):
    assert ids(api("GET", "/api/incidents")) == newest_first(history)


def test_an_empty_list_is_an_empty_array_without_a_link(api):
    response = api("GET", "/api/incidents")
    assert response.json() == []
    assert "Link" not in response


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=resolved", lambda h: [h[1]]),
        ("status=monitoring,resolved", lambda h: [h[1], h[3]]),
        ("status=investigating", lambda h: [h[0], h[2], h[4], h[5]]),
        ("status=investigating,investigating", lambda h: [h[0], h[2], h[4], h[5]]),
        ("monitorId=mon_def456", lambda h: [h[2]]),
        ("monitorId=mon_abc123", lambda h: [h[1], h[2], h[4]]),
        ("monitorId=mon_abc123&status=investigating", lambda h: [h[2], h[4]]),
        ("maintenance=false", lambda h: h),
        ("maintenance=true", lambda h: []),
    ],
)
def test_it_filters(api, history, query, expected):
    assert ids(api("GET", f"/api/incidents?{query}")) == newest_first(expected(history))


def test_it_filters_maintenance_windows(api, history, make_incident):
    window = make_incident(
        title="Upgrade",
        scheduled_start=NOW + timedelta(days=1),
        scheduled_end=NOW + timedelta(days=1, hours=2),
    )
    assert ids(api("GET", "/api/incidents?maintenance=true")) == [window.id]
    assert window.id not in ids(api("GET", "/api/incidents?maintenance=false"))
    assert ids(api("GET", "/api/incidents"))[0] == window.id


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("status=closed", {"status": f"must be a comma-separated list of: {STATUSES}"}),
        ("status=resolved,", {"status": f"must be a comma-separated list of: {STATUSES}"}),
        ("status=", {"status": "must not be empty"}),
        ("maintenance=yes", {"maintenance": "must be true or false"}),
        ("maintenance=1", {"maintenance": "must be true or false"}),
        ("monitorId=mon_nope", {"monitorId": "unknown monitor id: mon_nope"}),
        ("limit=0", {"limit": "must be a whole number from 1 to 100"}),
        ("limit=101", {"limit": "must be a whole number from 1 to 100"}),
        ("limit=-1", {"limit": "must be a whole number from 1 to 100"}),
        ("limit=1.5", {"limit": "must be a whole number from 1 to 100"}),
        ("limit=ten", {"limit": "must be a whole number from 1 to 100"}),
        ("limit=", {"limit": "must not be empty"}),
        ("limit=10&limit=20", {"limit": "must be given once"}),
        ("page=2", {"page": "unknown query parameter; allowed: status, maintenance, monitorId, "
                            "limit, cursor"}),
    ],
)  # fmt: skip
def test_it_refuses_bad_query_parameters(api, monitors, query, fields):
    assert fields_of(api("GET", f"/api/incidents?{query}")) == fields


def test_limit_bounds_are_accepted(api, history):
    assert len(ids(api("GET", "/api/incidents?limit=1"))) == 1
    assert len(ids(api("GET", "/api/incidents?limit=100"))) == 6


def test_the_default_page_is_50_with_a_link_to_the_rest(api, make_incident):
    made = [make_incident(title=f"I{n}", at=NOW - timedelta(minutes=n)) for n in range(52)]
    first = api("GET", "/api/incidents")
    assert ids(first) == [i.id for i in made[:50]]
    second = api("GET", next_link(first))
    assert "limit=50" in next_link(first)
    assert ids(second) == [i.id for i in made[50:]]
    assert "Link" not in second


def walk(api, url):
    pages = []
    while url:
        response = api("GET", url)
        pages.append(ids(response))
        url = next_link(response)
    return pages


def test_cursor_paging_visits_every_incident_once_in_order(api, history):
    pages = walk(api, "/api/incidents?limit=2")
    assert pages == [newest_first(history)[n : n + 2] for n in (0, 2, 4)]


def test_the_last_page_may_be_full_and_has_no_link(api, history):
    pages = walk(api, "/api/incidents?limit=3")
    assert [len(page) for page in pages] == [3, 3]


def test_the_link_keeps_the_filters(api, history):
    first = api("GET", "/api/incidents?status=investigating&monitorId=mon_abc123&limit=1")
    link = next_link(first)
    assert "status=investigating" in link and "monitorId=mon_abc123" in link
    assert "limit=1" in link
    pages = walk(api, "/api/incidents?status=investigating,monitoring&limit=1")
    assert sum(pages, []) == newest_first([history[i] for i in (0, 2, 3, 4, 5)])


def test_paging_stays_correct_while_incidents_are_added(api, history, make_incident, travel):
    first = api("GET", "/api/incidents?limit=2")
    for n in range(3):
        make_incident(title=f"New {n}")  # newer than everything listed
    make_incident(title="Backdated", at=NOW - timedelta(hours=7, minutes=30))
    rest = walk(api, next_link(first))
    seen = ids(first) + sum(rest, [])
    expected = newest_first(history)
    backdated = Incident.objects.get(title="Backdated").id
    assert [i for i in seen if i != backdated] == expected
    assert len(seen) == len(set(seen))
    # A backdated incident lands where it belongs in the order.
    assert seen.index(backdated) == expected.index(history[2].id)


def cursor_for(text):
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "abc",
        cursor_for("2025-05-20T10:00:00.000000"),
        cursor_for("2025-05-20T10:00:00|inc_x"),
        cursor_for("2025-13-20T10:00:00.000000|inc_x"),
        cursor_for("2025-05-20T10:00:00.000000|inc x"),
        cursor_for("2025-05-20T10:00:00.000000|inc_x") + "==",
        "A" * 300,
    ],
)
def test_it_refuses_cursors_it_did_not_write(api, history, cursor):
    assert fields_of(api("GET", f"/api/incidents?cursor={cursor}")) == {
        "cursor": "is not a cursor from this API; use the link in the previous response"
    }


def test_a_cursor_past_the_end_gives_an_empty_page(api, history):
    oldest = min(history, key=lambda i: (i.started_at, i.id))
    started = oldest.started_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    response = api("GET", f"/api/incidents?cursor={cursor_for(f'{started}|{oldest.id}')}")
    assert response.json() == []
    assert "Link" not in response


def test_listing_100_incidents_costs_the_same_queries_as_listing_1(
    api, make_incident, monitors, django_assert_num_queries
):
    api("GET", "/api/monitors")  # the key's last use is recorded once a minute
    first = make_incident(monitor_ids=monitors)
    first.post_update("identified", "Found.")
    # cache lookup (the key's record with it), incidents with windows, updates,
    # monitor links, cache write
    expected = 3 + CACHE_READ_QUERIES + CACHE_WRITE_QUERIES
    with django_assert_num_queries(expected):
        assert len(ids(api("GET", "/api/incidents?limit=100"))) == 1
    for number in range(99):
        incident = make_incident(title=f"I{number}", monitor_ids=monitors[number % 2 :])
        incident.post_update("monitoring", "Watching.")
    with django_assert_num_queries(expected):
        response = api("GET", "/api/incidents?limit=100")
    assert len(ids(response)) == 100
    assert all(len(item["updates"]) == 2 for item in response.json())
    # With every filter (the monitor is looked up once more) and a cursor: still constant.
    cursor = next_link(api("GET", "/api/incidents?limit=10")).split("cursor=")[1]
    query = "status=investigating,monitoring&maintenance=false&monitorId=mon_abc123&limit=100"
    with django_assert_num_queries(expected + 1):
        api("GET", f"/api/incidents?{query}&cursor={cursor}")
    # Unchanged since: the stored bytes after one cache lookup (the key with them).
    with django_assert_num_queries(CACHE_READ_QUERIES):
        again = api("GET", "/api/incidents?limit=100")
    assert again.content == response.content
    assert again["Content-Type"] == "application/json"


def test_a_cached_list_keeps_its_link_and_is_rebuilt_after_a_write(api, history, make_incident):
    first = api("GET", "/api/incidents?limit=2")
    again = api("GET", "/api/incidents?limit=2")
    assert again["Link"] == first["Link"]
    newer = make_incident(title="Newer")
    assert ids(api("GET", "/api/incidents?limit=2"))[0] == newer.id


# --- Revalidation ------------------------------------------------------------------------


def test_a_client_holding_the_current_version_gets_304(api, make_incident):
    incident = make_incident()
    path = f"/api/incidents/{incident.id}"
    first = api("GET", path)
    etag = first["ETag"]
    assert first["Cache-Control"] == "private, no-cache"
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = api("GET", path, **{"If-None-Match": sent})
        assert again.status_code == 304, sent
        assert again.content == b""
        assert again["ETag"] == etag
    assert api("GET", path, **{"If-None-Match": '"other"'}).status_code == 200
    incident.post_update("identified", "Found it.")
    changed = api("GET", path, **{"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_lists_revalidate_too_and_errors_are_never_cached(api, make_incident):
    make_incident()
    first = api("GET", "/api/incidents")
    assert api("GET", "/api/incidents", **{"If-None-Match": first["ETag"]}).status_code == 304
    monitors = api("GET", "/api/monitors")
    assert api("GET", "/api/monitors", **{"If-None-Match": monitors["ETag"]}).status_code == 304
    refused = api("GET", "/api/incidents?limit=0", **{"If-None-Match": "*"})
    assert refused.status_code == 400
    assert refused["Cache-Control"] == "private, no-cache"
    assert api("GET", "/api/incidents", key=None, **{"If-None-Match": "*"}).status_code == 401
