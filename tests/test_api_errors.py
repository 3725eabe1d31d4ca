"""What every keyed call goes through: keys, methods, paths, bodies — and the
promise that no input gets a 500 or an HTML page."""

import json

import pytest
from django.conf import settings
from django.test import Client

from incidents.models import ApiKey, AuditRecord, Incident
from incidents.models.incidents import IncidentQuerySet

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

KEYED_CALLS = [
    ("GET", "/api/incidents"),
    ("POST", "/api/incidents"),
    ("GET", "/api/incidents/{incident}"),
    ("PATCH", "/api/incidents/{incident}"),
    ("DELETE", "/api/incidents/{incident}"),
    ("GET", "/api/monitors"),
    ("POST", "/api/monitors"),
    ("GET", "/api/monitors/{monitor}"),
    ("PATCH", "/api/monitors/{monitor}"),
    ("DELETE", "/api/monitors/{monitor}"),
    ("GET", "/api/groups"),
    ("POST", "/api/groups"),
    ("GET", "/api/groups/{group}"),
    ("PATCH", "/api/groups/{group}"),
    ("DELETE", "/api/groups/{group}"),
]


def assert_error(response, status, code, fields=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if fields is None:
        assert "fields" not in body["error"] or code == "validation_error"
    else:
        assert body["error"]["fields"] == fields
    return body["error"]


@pytest.fixture
def existing(make_monitor, make_incident):
    from incidents.groups.models import MonitorGroup

    group = MonitorGroup.create_group(name="Core")
    monitor = make_monitor(group_id=group.id)
    incident = make_incident(monitor_ids=[monitor.id])
    return {"incident": incident.id, "monitor": monitor.id, "group": group.id}


# --- Keys -------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), KEYED_CALLS)
def test_it_refuses_a_call_without_a_key(api, existing, method, path):
    response = api(method, path.format(**existing), {"title": "x"}, key=None)
    error = assert_error(response, 401, "unauthorized")
    assert "x-api-key" in error["message"]
    assert response["WWW-Authenticate"]


@pytest.mark.parametrize(("method", "path"), KEYED_CALLS)
def test_it_refuses_an_unknown_key_and_changes_nothing(api, existing, method, path):
    forged = "km_" + "x" * 43
    before = (Incident.objects.count(), AuditRecord.objects.count())
    response = api(method, path.format(**existing), {"name": "x", "title": "x"}, key=forged)
    assert_error(response, 401, "unauthorized")
    assert forged not in response.content.decode()
    assert (Incident.objects.count(), AuditRecord.objects.count()) == before


def test_it_refuses_a_revoked_key(api, api_key, existing):
    key, raw = api_key
    assert api("GET", "/api/incidents").status_code == 200
    key.revoke()
    response = api("GET", f"/api/incidents/{existing['incident']}")
    assert_error(response, 401, "unauthorized")
    assert raw not in response.content.decode()


@pytest.mark.parametrize("raw", ["", " ", "km_", "x" * 5000, "km_\u00e9\u00e9", "Bearer km_abc"])
def test_it_refuses_malformed_keys(api, raw):
    assert_error(api("GET", "/api/incidents", key=raw), 401, "unauthorized")


def test_it_records_when_a_key_was_last_used(api, api_key):
    key, _raw = api_key
    assert key.last_used_at is None
    api("GET", "/api/monitors")
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_a_second_call_within_a_minute_does_not_write_the_key_again(
    api, api_key, django_assert_num_queries
):
    api("GET", "/api/monitors")
    # The one cache lookup (key and answer together): no UPDATE of last_used_at.
    cache_lookup = 1 if "DatabaseCache" in settings.CACHES["default"]["BACKEND"] else 0
    with django_assert_num_queries(cache_lookup):
        assert api("GET", "/api/monitors").status_code == 200
    # Nor for a call without a stored answer: the key's record, then the monitor.
    with django_assert_num_queries(cache_lookup + 1):
        assert api("GET", "/api/monitors/mon_none/checks").status_code == 404


def test_keyed_writes_need_no_csrf_token(raw_key, make_monitor):
    make_monitor(id="mon_abc123")
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/incidents",
        json.dumps({"title": "Down", "message": "Looking.", "monitorIds": ["mon_abc123"]}),
        content_type="application/json",
        headers={"x-api-key": raw_key},
    )
    assert response.status_code == 201


def test_the_key_never_reaches_the_logs(api, raw_key, caplog, existing):
    with caplog.at_level("DEBUG"):
        api("GET", "/api/incidents")
        api("POST", "/api/incidents", "{", key=raw_key)
        api("GET", "/api/incidents", key=raw_key + "x")
        api("DELETE", "/api/nowhere")
    assert raw_key not in caplog.text
    assert raw_key[:20] not in caplog.text


# --- Paths and methods -------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/",
        "/api/nowhere",
        "/api/incidents/",
        "/api/incidents/inc_x/updates",
        "/api/monitors/",
        "/api/v1/incidents",
        "/api/incidents%00",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_unknown_paths_answer_json_404(api, path, method):
    assert_error(api(method, path, {"x": 1}), 404, "not_found")
    assert_error(api(method, path, key=None), 404, "not_found")


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/incidents", "GET, POST"),
        ("/api/incidents/inc_anything", "GET, PATCH, DELETE"),
        ("/api/monitors", "GET, POST"),
        ("/api/monitors/mon_anything", "GET, PATCH, DELETE"),
        ("/api/groups", "GET, POST"),
        ("/api/groups/grp_anything", "GET, PATCH, DELETE"),
        ("/api/openapi.json", "GET"),
    ],
)
@pytest.mark.parametrize("method", ["PUT", "HEAD", "OPTIONS", "TRACE", "CONNECT", "BREW", "PATCH"])
def test_other_methods_answer_405_with_allow(api, path, allowed, method):
    if method in allowed.split(", "):
        return
    response = api(method, path)
    if method == "HEAD":  # no body in an answer to HEAD
        assert response.status_code == 405
    else:
        assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == allowed


def test_unknown_ids_answer_404(api):
    for method in ("GET", "PATCH", "DELETE"):
        body = {"title": "x"} if method == "PATCH" else None
        assert_error(api(method, "/api/incidents/inc_nope", body), 404, "not_found")
        assert_error(api(method, "/api/monitors/mon_nope", body), 404, "not_found")
        assert_error(api(method, "/api/groups/grp_nope", body), 404, "not_found")


@pytest.mark.parametrize(
    "incident_id", ["%00", "inc_%00", "inc_%ED%A0%80", "x" * 500, "inc_%C3%A9", "..%2F..", "%20"]
)
def test_odd_ids_answer_404(api, incident_id):
    assert_error(api("GET", f"/api/incidents/{incident_id}"), 404, "not_found")
    assert_error(api("PATCH", f"/api/monitors/{incident_id}", {"name": "x"}), 404, "not_found")


# --- Bodies ------------------------------------------------------------------------


VALID_BODY = {"title": "Down", "message": "Looking."}


@pytest.mark.parametrize(
    "content_type",
    [
        "",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "application/jsonx",
        "application/json-patch+json",
        "text/json",
    ],
)
def test_it_refuses_bodies_that_are_not_json(api, content_type):
    response = api("POST", "/api/incidents", VALID_BODY, content_type=content_type)
    assert_error(response, 415, "unsupported_media_type")
    response = api("PATCH", "/api/monitors/mon_x", {"name": "x"}, content_type=content_type)
    assert_error(response, 415, "unsupported_media_type")
    assert Incident.objects.count() == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        'application/json; charset="utf-8"',
        "application/json;",
    ],
)
def test_it_accepts_json_with_or_without_a_utf8_charset(api, content_type):
    response = api("POST", "/api/incidents", VALID_BODY, content_type=content_type)
    assert response.status_code == 201


def padded(size):
    """A valid incident body of exactly ``size`` bytes."""
    body = json.dumps(VALID_BODY)
    return body[:-1] + " " * (size - len(body)) + "}"


def test_it_accepts_a_body_of_64_kib(api):
    assert api("POST", "/api/incidents", padded(65536)).status_code == 201


def test_it_refuses_a_body_over_64_kib(api):
    assert_error(api("POST", "/api/incidents", padded(65537)), 413, "payload_too_large")
    assert_error(
        api("PATCH", "/api/monitors/mon_x", "{" + " " * 200_000 + "}"), 413, "payload_too_large"
    )
    assert Incident.objects.count() == 0


def test_it_refuses_a_declared_length_over_64_kib_without_reading(api):
    response = api("POST", "/api/incidents", json.dumps(VALID_BODY), CONTENT_LENGTH="10000000")
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("{", "not valid JSON"),
        ('{"title": "x",}', "not valid JSON"),
        ("{'title': 'x'}", "not valid JSON"),
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"title": "caf\xe9"}', "UTF-8"),
        ('{"title": NaN}', "NaN"),
        ('{"title": Infinity}', "Infinity"),
        ('{"title": "a", "title": "b"}', "twice"),
        ('{"a": {"b": 1, "b": 2}}', "twice"),
        ("[" * 100_000 + "]" * 100_000, "nested"),
        ('{"title": ' + "9" * 5000 + "}", "not valid JSON"),
        ("\ufeff{}", "not valid JSON"),
        ('{"title": "x"} trailing', "not valid JSON"),
    ],
)
def test_it_refuses_malformed_json(api, body, hint):
    if isinstance(body, str) and len(body.encode()) > 65536:
        body = body[:30000] + body[-30000:]
    # (The test client leaves out Content-Type for an empty body; curl would send it.)
    response = api("POST", "/api/incidents", body, CONTENT_TYPE="application/json")
    error = assert_error(response, 400, "invalid_json")
    assert hint in error["message"]
    assert Incident.objects.count() == 0


@pytest.mark.parametrize("body", ["[]", '"text"', "42", "null", "true", '[{"title": "x"}]'])
def test_it_refuses_a_body_that_is_not_an_object(api, body):
    error = assert_error(api("POST", "/api/incidents", body), 400, "validation_error", fields={})
    assert "JSON object" in error["message"]


# --- Never a 500 -----------------------------------------------------------------------

HOSTILE_VALUES = [
    None,
    True,
    0,
    -1,
    10**30,
    1.5,
    1e308,
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff\ud800",
    "😀" * 50,
    "x" * 20_000,
    "<script>alert(1)</script>",
    "'; DROP TABLE incidents_incident; --",
    [],
    [None],
    [1, 2],
    ["\x00"],
    ["mon_x"] * 500,
    {},
    {"nested": {"deeper": [1, {"x": None}]}},
    "2025-06-01T02:00:00",
    "2025-13-01T02:00:00Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-23:59",
    "2025-06-01T02:00:60Z",
    "2025-06-01T02:00:00+24:00",
]
BODY_FIELDS = [
    "title",
    "status",
    "message",
    "monitorIds",
    "maintenance",
    "scheduledStart",
    "scheduledEnd",
    "name",
    "url",
    "id",
    "description",
    "groupId",
    "position",
    "\x00",
    "\ud800",
]


def test_no_hostile_value_in_any_field_gets_a_500(api, existing):
    calls = [
        ("POST", "/api/incidents"),
        ("PATCH", f"/api/incidents/{existing['incident']}"),
        ("POST", "/api/monitors"),
        ("PATCH", f"/api/monitors/{existing['monitor']}"),
        ("POST", "/api/groups"),
        ("PATCH", f"/api/groups/{existing['group']}"),
    ]
    for method, path in calls:
        for field in BODY_FIELDS:
            for value in HOSTILE_VALUES:
                body = {"title": "T", "message": "M", "name": "N", field: value}
                if method == "PATCH":
                    body = {field: value}
                raw = json.dumps(body, ensure_ascii=True)
                response = api(method, path, raw)
                assert response.status_code < 500, (method, path, field, value, response.content)
                assert response["Content-Type"] == "application/json"
                if response.status_code >= 400:
                    assert response.json()["error"]["code"]


@pytest.mark.parametrize(
    "query",
    [
        "status=%00",
        "monitorId=%00",
        "monitorId=mon_%ED%A0%80",
        "monitorId=" + "x" * 3000,
        "limit=%00",
        "limit=99999999999999999999999",
        "limit=%D9%A3",
        "cursor=%00",
        "cursor=" + "A" * 5000,
        "cursor=%FF%FE",
        "%00=1",
        "status=resolved&status=resolved",
        "maintenance=TRUE",
        "limit=1e2",
    ],
)
def test_no_hostile_query_gets_a_500(api, existing, query):
    assert_error(api("GET", f"/api/incidents?{query}"), 400, "validation_error")


def test_keys_may_be_sent_in_any_header_case(client, raw_key):
    assert client.get("/api/incidents", headers={"X-API-KEY": raw_key}).status_code == 200
    assert client.get("/api/incidents", headers={"X-Api-Key": raw_key}).status_code == 200


def test_a_revoked_key_is_refused_on_writes_too(api, api_key):
    key, _raw = api_key
    ApiKey.objects.filter(pk=key.pk).update(revoked_at="2025-01-01T00:00:00Z")
    assert_error(api("POST", "/api/incidents", VALID_BODY), 401, "unauthorized")
    assert Incident.objects.count() == 0


# --- Failures nobody foresaw ---------------------------------------------------------


def test_an_unforeseen_failure_is_a_json_500_logged_without_the_key(
    api, raw_key, existing, monkeypatch, caplog
):
    def broken(self):
        raise RuntimeError("a bug")

    monkeypatch.setattr(Incident, "to_dict", broken)
    with caplog.at_level("ERROR"):
        response = api("GET", f"/api/incidents/{existing['incident']}")
    assert_error(response, 500, "internal_error")
    assert "a bug" not in response.content.decode()
    assert "API request failed: GET /api/incidents/" in caplog.text
    assert raw_key not in caplog.text


def test_a_write_that_loses_a_race_is_a_conflict_and_writes_nothing(api, monkeypatch):
    from django.db import IntegrityError

    from incidents.models import Monitor

    def raced(cls, **fields):
        raise IntegrityError("UNIQUE constraint failed: incidents_monitor.id")

    monkeypatch.setattr(Monitor, "create_monitor", classmethod(raced))
    response = api("POST", "/api/monitors", {"name": "API", "id": "mon_abc123"})
    assert_error(response, 409, "conflict")
    assert "UNIQUE" not in response.content.decode()


def test_an_incident_deleted_during_a_patch_is_a_404(api, existing, monkeypatch):
    # The PATCH's lookup is its lock: a DELETE that commits just before it
    # leaves nothing to change, and nothing is written.
    real_for_change = IncidentQuerySet.for_change

    def deleted_meanwhile(self, pk):
        Incident.objects.filter(pk=pk).delete()
        return real_for_change(self, pk)

    monkeypatch.setattr(IncidentQuerySet, "for_change", deleted_meanwhile)
    audited = AuditRecord.objects.count()
    response = api("PATCH", f"/api/incidents/{existing['incident']}", {"status": "resolved"})
    assert_error(response, 404, "not_found")
    assert AuditRecord.objects.count() == audited


BODY_CALLS = [
    ("POST", "/api/incidents"),
    ("PATCH", "/api/incidents/{incident}"),
    ("POST", "/api/monitors"),
    ("PATCH", "/api/monitors/{monitor}"),
    ("POST", "/api/groups"),
    ("PATCH", "/api/groups/{group}"),
]


@pytest.mark.parametrize(("method", "path"), BODY_CALLS)
def test_every_write_refuses_bad_bodies_the_same_way(api, existing, method, path):
    path = path.format(**existing)
    before = api("GET", path).content  # the resource, or the whole list
    assert_error(api(method, path, '{"name": '), 400, "invalid_json")
    assert_error(api(method, path, "[]"), 400, "validation_error", fields={})
    assert_error(api(method, path, {"nope": 1}), 400, "validation_error")
    assert_error(api(method, path, "x" * 70_000), 413, "payload_too_large")
    assert_error(api(method, path, "{}", content_type="text/plain"), 415, "unsupported_media_type")
    assert_error(api(method, path, "{}", key=None), 401, "unauthorized")
    assert api("GET", path).content == before
