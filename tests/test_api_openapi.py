"""/api/openapi.json describes the API as built.

Every response the document lists — each operation, each status — is
produced here by a real request and checked against the documented status,
content type, headers and body schema; a documented response nobody can
produce, or an operation without a case, fails the test.
"""

import json
from datetime import UTC, datetime

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from incidents import idempotency
from incidents.api import urls as api_urls
from incidents.idempotency import IdempotencyKey
from incidents.models import CheckResult
from tests.seed import (
    CREATE_INCIDENT_BODY,
    CREATE_MAINTENANCE_BODY,
    UPDATE_INCIDENT_BODY,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DOC_URI = "urn:kamustatus:openapi"


@pytest.fixture
def document(client):
    response = client.get("/api/openapi.json")  # no key needed
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()


def validator(document, pointer):
    registry = Registry().with_resource(
        DOC_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"{DOC_URI}#{pointer}"}, registry=registry, format_checker=FormatChecker()
    )


def escape(part):
    return part.replace("~", "~0").replace("/", "~1")


def deref(document, node):
    """Follow a local ``$ref`` (responses are referenced from components)."""
    while isinstance(node, dict) and "$ref" in node:
        target = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


@pytest.fixture
def world(make_monitor, make_incident, api_key):
    """Existing things for the requests to find."""
    from incidents.groups.models import MonitorGroup

    MonitorGroup.create_group(id="grp_core", name="Core", position=1)
    MonitorGroup.create_group(id="grp_free", name="Spare")
    make_monitor(id="mon_abc123", group_id="grp_core", description="The API.", position=2)
    make_monitor(id="mon_def456", group_id="grp_core")
    make_monitor(id="mon_free01")
    incident = make_incident(title="Open", monitor_ids=["mon_abc123"])
    window = make_incident(
        title="Window",
        monitor_ids=["mon_def456"],
        scheduled_start=datetime(2030, 1, 1, tzinfo=UTC),
        scheduled_end=datetime(2030, 1, 2, tzinfo=UTC),
    )
    for number in range(3):
        make_incident(title=f"Old {number}").resolve("Done.")
    # Checked monitors, with results to page through (issue 14).
    make_monitor(id="mon_chk001", check={"type": "http", "url": "https://api.example.com/"})
    make_monitor(id="mon_chk002", check={"type": "tcp", "host": "db.example.com", "port": 5432})
    make_monitor(id="mon_chk003", check={"type": "heartbeat", "period": 60, "grace": 30})
    for number in range(3):
        CheckResult.objects.create(
            monitor_id="mon_chk001",
            checked_at=datetime(2030, 1, 1, 0, number, tzinfo=UTC),
            status="down" if number else "operational",
            response_time_ms=None if number else 120,
            error="status 503" if number else None,
        )
    latest = incident.post_update(message="A second entry.")
    from incidents.subscribers.models import Subscriber

    subscriber = Subscriber.objects.add_email("exists@example.com", skip_confirmation=True)
    return {
        "incident": incident.id,
        "window": window.id,
        "key": api_key,
        "first": incident.timeline()[0].id,
        "latest": latest.id,
        "only": window.timeline()[0].id,
        "subscriber": subscriber.id,
    }


TOO_BIG = "{" + " " * (64 * 1024) + "}"

INC = "/api/incidents/{incident}"
WINDOW = "/api/incidents/{window}"
MON = "/api/monitors/mon_abc123"
FREE = "/api/monitors/mon_free01"
ENTRY = "/incidents/{incidentId}/updates/{updateId}"
CHECKS = "/api/monitors/mon_chk001/checks"
SUB = "/api/subscribers/{subscriber}"
NEW_MONITOR = {"id": "mon_new001", "name": "New", "url": "https://example.com/"}
GRP = "/api/groups/grp_core"
NEW_GROUP = {"id": "grp_new", "name": "New", "position": 3, "description": "Fresh."}


def send(method, url, body=None, **options):
    return (method, url, body, options)


# (path template, method, status) → the request that produces it.
CASES = {
    ("/incidents", "get", "200"): send("GET", "/api/incidents?limit=2"),
    ("/incidents", "get", "400"): send("GET", "/api/incidents?limit=0"),
    ("/incidents", "get", "401"): send("GET", "/api/incidents", key=None),
    ("/incidents", "post", "201"): send("POST", "/api/incidents", CREATE_MAINTENANCE_BODY),
    ("/incidents", "post", "400"): send("POST", "/api/incidents", {"title": 1}),
    ("/incidents", "post", "401"): send("POST", "/api/incidents", {}, key="km_wrong"),
    ("/incidents", "post", "413"): send("POST", "/api/incidents", TOO_BIG),
    ("/incidents", "post", "415"): send("POST", "/api/incidents", {}, content_type="text/plain"),
    ("/incidents/{incidentId}", "get", "200"): send("GET", WINDOW),
    ("/incidents/{incidentId}", "get", "401"): send("GET", INC, key=None),
    ("/incidents/{incidentId}", "get", "404"): send("GET", "/api/incidents/inc_nope"),
    ("/incidents/{incidentId}", "patch", "200"): send("PATCH", INC, UPDATE_INCIDENT_BODY),
    ("/incidents/{incidentId}", "patch", "400"): send("PATCH", INC, "{nope"),
    ("/incidents/{incidentId}", "patch", "401"): send("PATCH", INC, {}, key=None),
    ("/incidents/{incidentId}", "patch", "404"): send("PATCH", "/api/incidents/inc_x", {}),
    ("/incidents/{incidentId}", "patch", "413"): send("PATCH", INC, TOO_BIG),
    ("/incidents/{incidentId}", "patch", "415"): send("PATCH", INC, {}, content_type="text/xml"),
    ("/incidents/{incidentId}", "delete", "204"): send("DELETE", WINDOW),
    ("/incidents/{incidentId}", "delete", "401"): send("DELETE", INC, key=None),
    ("/incidents/{incidentId}", "delete", "404"): send("DELETE", "/api/incidents/inc_nope"),
    (ENTRY, "patch", "200"): send("PATCH", INC + "/updates/{first}", {"message": "Fixed."}),
    (ENTRY, "patch", "400"): send("PATCH", INC + "/updates/{first}", {"message": 1}),
    (ENTRY, "patch", "401"): send("PATCH", INC + "/updates/{first}", {}, key=None),
    (ENTRY, "patch", "404"): send("PATCH", INC + "/updates/upd_nope", {"message": "x"}),
    (ENTRY, "patch", "413"): send("PATCH", INC + "/updates/{first}", TOO_BIG),
    (ENTRY, "patch", "415"): send("PATCH", INC + "/updates/{first}", {}, content_type="text/plain"),
    (ENTRY, "delete", "204"): send("DELETE", INC + "/updates/{latest}"),
    (ENTRY, "delete", "401"): send("DELETE", INC + "/updates/{latest}", key=None),
    (ENTRY, "delete", "404"): send("DELETE", WINDOW + "/updates/{latest}"),
    (ENTRY, "delete", "409"): send("DELETE", WINDOW + "/updates/{only}"),
    ("/monitors", "get", "200"): send("GET", "/api/monitors"),
    ("/monitors", "get", "401"): send("GET", "/api/monitors", key="km_wrong"),
    ("/monitors", "post", "201"): send("POST", "/api/monitors", NEW_MONITOR),
    ("/monitors", "post", "400"): send("POST", "/api/monitors", {"name": "New", "id": "bad"}),
    ("/monitors", "post", "401"): send("POST", "/api/monitors", {"name": "New"}, key=None),
    ("/monitors", "post", "409"): send("POST", "/api/monitors", {"name": "A", "id": "mon_abc123"}),
    ("/monitors", "post", "413"): send("POST", "/api/monitors", TOO_BIG),
    ("/monitors", "post", "415"): send("POST", "/api/monitors", {}, content_type="text/csv"),
    ("/monitors/{monitorId}", "get", "200"): send("GET", MON),
    ("/monitors/{monitorId}", "get", "401"): send("GET", MON, key=None),
    ("/monitors/{monitorId}", "get", "404"): send("GET", "/api/monitors/mon_nope"),
    ("/monitors/{monitorId}", "patch", "200"): send("PATCH", MON, {"status": "down"}),
    ("/monitors/{monitorId}", "patch", "400"): send("PATCH", MON, {}),
    ("/monitors/{monitorId}", "patch", "401"): send("PATCH", MON, {"status": "down"}, key=None),
    ("/monitors/{monitorId}", "patch", "404"): send("PATCH", "/api/monitors/mon_x", {"name": "x"}),
    ("/monitors/{monitorId}", "patch", "413"): send("PATCH", MON, TOO_BIG),
    ("/monitors/{monitorId}", "patch", "415"): send("PATCH", MON, {}, content_type=""),
    ("/monitors/{monitorId}", "delete", "204"): send("DELETE", FREE),
    ("/monitors/{monitorId}", "delete", "401"): send("DELETE", FREE, key=None),
    ("/monitors/{monitorId}", "delete", "404"): send("DELETE", "/api/monitors/mon_nope"),
    ("/monitors/{monitorId}", "delete", "409"): send("DELETE", MON),
    ("/groups", "get", "200"): send("GET", "/api/groups"),
    ("/groups", "get", "401"): send("GET", "/api/groups", key=None),
    ("/groups", "post", "201"): send("POST", "/api/groups", NEW_GROUP),
    ("/groups", "post", "400"): send("POST", "/api/groups", {"name": "New", "position": -1}),
    ("/groups", "post", "401"): send("POST", "/api/groups", {"name": "New"}, key=None),
    ("/groups", "post", "409"): send("POST", "/api/groups", {"name": "A", "id": "grp_core"}),
    ("/groups", "post", "413"): send("POST", "/api/groups", TOO_BIG),
    ("/groups", "post", "415"): send("POST", "/api/groups", {}, content_type="text/csv"),
    ("/groups/{groupId}", "get", "200"): send("GET", GRP),
    ("/groups/{groupId}", "get", "401"): send("GET", GRP, key=None),
    ("/groups/{groupId}", "get", "404"): send("GET", "/api/groups/grp_nope"),
    ("/groups/{groupId}", "patch", "200"): send("PATCH", GRP, {"name": "Core services"}),
    ("/groups/{groupId}", "patch", "400"): send("PATCH", GRP, {"monitorIds": []}),
    ("/groups/{groupId}", "patch", "401"): send("PATCH", GRP, {"name": "x"}, key=None),
    ("/groups/{groupId}", "patch", "404"): send("PATCH", "/api/groups/grp_x", {"name": "x"}),
    ("/groups/{groupId}", "patch", "413"): send("PATCH", GRP, TOO_BIG),
    ("/groups/{groupId}", "patch", "415"): send("PATCH", GRP, {}, content_type="text/plain"),
    ("/groups/{groupId}", "delete", "204"): send("DELETE", GRP),
    ("/groups/{groupId}", "delete", "401"): send("DELETE", GRP, key=None),
    ("/groups/{groupId}", "delete", "404"): send("DELETE", "/api/groups/grp_nope"),
    ("/openapi.json", "get", "200"): send("GET", "/api/openapi.json", key=None),
    ("/monitors/{monitorId}/checks", "get", "200"): send("GET", CHECKS + "?limit=2"),
    ("/monitors/{monitorId}/checks", "get", "400"): send("GET", CHECKS + "?limit=0"),
    ("/monitors/{monitorId}/checks", "get", "401"): send("GET", CHECKS, key=None),
    ("/monitors/{monitorId}/checks", "get", "404"): send("GET", "/api/monitors/mon_x/checks"),
    ("/monitors/{monitorId}/uptime", "get", "200"): send("GET", MON + "/uptime?days=3"),
    ("/monitors/{monitorId}/uptime", "get", "400"): send("GET", MON + "/uptime?days=0"),
    ("/monitors/{monitorId}/uptime", "get", "401"): send("GET", MON + "/uptime", key=None),
    ("/monitors/{monitorId}/uptime", "get", "404"): send("GET", "/api/monitors/mon_x/uptime"),
    ("/subscribers", "get", "200"): send("GET", "/api/subscribers?limit=2"),
    ("/subscribers", "get", "400"): send("GET", "/api/subscribers?limit=0"),
    ("/subscribers", "get", "401"): send("GET", "/api/subscribers", key=None),
    ("/subscribers", "post", "201"): send("POST", "/api/subscribers", {"email": "new@example.com"}),
    ("/subscribers", "post", "400"): send("POST", "/api/subscribers", {"email": "nope"}),
    ("/subscribers", "post", "401"): send("POST", "/api/subscribers", {}, key=None),
    ("/subscribers", "post", "409"): send(
        "POST", "/api/subscribers", {"email": "exists@example.com"}
    ),
    ("/subscribers", "post", "413"): send("POST", "/api/subscribers", TOO_BIG),
    ("/subscribers", "post", "415"): send("POST", "/api/subscribers", {}, content_type="text/x"),
    ("/subscribers/{subscriberId}", "get", "200"): send("GET", SUB),
    ("/subscribers/{subscriberId}", "get", "401"): send("GET", SUB, key=None),
    ("/subscribers/{subscriberId}", "get", "404"): send("GET", "/api/subscribers/sub_nope"),
    ("/subscribers/{subscriberId}", "delete", "204"): send("DELETE", SUB),
    ("/subscribers/{subscriberId}", "delete", "401"): send("DELETE", SUB, key=None),
    ("/subscribers/{subscriberId}", "delete", "404"): send("DELETE", "/api/subscribers/sub_x"),
}

# Idempotency-Key on every POST: a retry while the first runs, a key reused.
IN_PROGRESS, REUSED = {"Idempotency-Key": "in-progress"}, {"Idempotency-Key": "reused"}
CASES.update(
    {
        ("/incidents", "post", "409"): send(
            "POST", "/api/incidents", CREATE_INCIDENT_BODY, **IN_PROGRESS
        ),
        ("/incidents", "post", "422"): send(
            "POST", "/api/incidents", CREATE_INCIDENT_BODY, **REUSED
        ),
        ("/monitors", "post", "422"): send("POST", "/api/monitors", NEW_MONITOR, **REUSED),
        ("/groups", "post", "422"): send("POST", "/api/groups", NEW_GROUP, **REUSED),
        ("/subscribers", "post", "422"): send(
            "POST", "/api/subscribers", {"email": "retry@example.com"}, **REUSED
        ),
    }
)

# Every GET that carries an ETag answers 304 when it is sent back.
for (path, method, status), (verb, url, body, options) in list(CASES.items()):
    uncached = (
        "/openapi.json",
        "/monitors/{monitorId}/checks",
        "/monitors/{monitorId}/uptime",
        "/alerts",
        "/subscribers",
        "/subscribers/{subscriberId}",
    )
    if method == "get" and status == "200" and path not in uncached and "alerts" not in path:
        CASES[(path, method, "304")] = send(verb, url, body, **options)

# Every keyed operation answers 429 to a wrong key once the address has sent too many.
for (path, method, status), (verb, url, body, options) in list(CASES.items()):
    if status == "401":
        CASES[(path, method, "429")] = send(verb, url, body, **{**options, "key": "km_wrong"})

# Operations other areas add to the document (alerts), with their cases.
if any(getattr(pattern, "name", None) == "alerts" for pattern in api_urls.urlpatterns):
    CASES.update(
        {
            ("/alerts", "get", "200"): send("GET", "/api/alerts?limit=2"),
            ("/alerts", "get", "400"): send("GET", "/api/alerts?limit=0"),
            ("/alerts", "get", "401"): send("GET", "/api/alerts", key=None),
            ("/alerts", "get", "429"): send("GET", "/api/alerts", key="km_wrong"),
        }
    )


def documented_responses(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                for status in operation["responses"]:
                    # 503 needs the database gone: produced for real, and checked
                    # against this document, in tests/test_outage.py.
                    if status != "503":
                        yield path, method, status


def test_every_documented_response_has_a_case_and_every_case_is_documented(document):
    documented = set(documented_responses(document))
    missing = sorted(documented - set(CASES))
    assert not missing, f"documented but never produced by a test: {missing}"
    assert not sorted(set(CASES) - documented), "produced but not documented"


@pytest.mark.parametrize("case", sorted(CASES), ids=lambda case: " ".join(case))
def test_the_real_response_matches_the_document(api, world, document, case, settings):
    path, method, status = case
    if status == "429":
        settings.AUTH_FAILURE_LIMIT = 1
        assert api("GET", "/api/monitors", key="km_wrong").status_code == 401
    method_name, url, body, options = CASES[case]
    if options == REUSED:
        assert api(method_name, url, {"earlier": "body"}, **options).status_code == 400
    if options == IN_PROGRESS:
        raw = body if isinstance(body, str) else json.dumps(body)
        IdempotencyKey.objects.create(
            api_key=world["key"][0],
            key=options["Idempotency-Key"],
            request_hash=idempotency.fingerprint(method_name, url, raw.encode()),
        )
    if status == "304":
        first = api(method_name, url.format(**world), body, **options)
        options = {**options, "If-None-Match": first["ETag"]}
    operation = document["paths"][path][method]
    documented = deref(document, operation["responses"][status])
    response = api(method_name, url.format(**world), body, **options)
    assert str(response.status_code) == status, response.content
    for name, header in documented.get("headers", {}).items():
        header = deref(document, header)
        if header.get("required"):
            assert name in response, f"{name} header missing"
        if name in response:
            assert not list(Draft202012Validator(header["schema"]).iter_errors(response[name])), (
                name
            )
    content = documented.get("content")
    if content is None:
        assert response.content == b""
        return
    (media_type,) = content
    assert response["Content-Type"] == media_type
    pointer = "/".join(
        ["", "paths", escape(path), method, "responses", status, "content", escape(media_type)]
    )
    if "$ref" in operation["responses"][status]:
        name = operation["responses"][status]["$ref"].rsplit("/", 1)[1]
        pointer = f"/components/responses/{name}/content/{escape(media_type)}"
    errors = list(validator(document, pointer + "/schema").iter_errors(response.json()))
    assert not errors, [error.message for error in errors]


def test_a_list_with_a_next_page_documents_its_link(api, world, document):
    response = api("GET", "/api/incidents?limit=1")
    assert response["Link"].endswith('>; rel="next"')
    assert "Link" in document["paths"]["/incidents"]["get"]["responses"]["200"]["headers"]


def test_405_is_documented_and_answered_as_documented(api, document):
    documented = document["components"]["responses"]["MethodNotAllowed"]
    response = api("PUT", "/api/incidents")
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    schema = documented["content"]["application/json"]["schema"]
    assert not list(Draft202012Validator(schema).iter_errors(response.json()))


def test_every_schema_in_the_document_is_a_valid_json_schema(document):
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    assert document["openapi"].startswith("3.1.")
    assert document["servers"] == [{"url": "/api"}]
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
    }


def test_every_local_ref_resolves(document):
    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                deref(document, node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        ("NewIncident", CREATE_INCIDENT_BODY),
        ("NewIncident", CREATE_MAINTENANCE_BODY),
        ("IncidentChange", UPDATE_INCIDENT_BODY),
        ("NewMonitor", '{"id": "mon_abc123", "name": "API", "url": "https://x.example/"}'),
    ],
)
def test_the_documented_bodies_fit_the_request_schemas(document, schema, body):
    errors = validator(document, f"/components/schemas/{schema}").iter_errors(json.loads(body))
    assert not [error.message for error in errors]


REFUSED = [
    ("NewIncident", {"title": "x", "message": "y", "extra": 1}),
    ("NewIncident", {"title": "x"}),
    ("NewIncident", {"title": "x", "message": "y", "status": "closed"}),
    ("NewIncident", {"title": "   ", "message": "y"}),
    ("NewIncident", {"title": "x" * 201, "message": "y"}),
    ("NewIncident", {"title": "a\x00", "message": "y"}),
    ("NewIncident", {"title": "x", "message": "y", "maintenance": True}),
    ("NewIncident", {"title": "x", "message": "y", "scheduledStart": "2025-06-01T02:00:00Z"}),
    ("NewIncident", {"title": "x", "message": "y", "maintenance": 1}),
    ("NewIncident", {"title": "x", "message": "y", "monitorIds": None}),
    ("NewIncident", {"title": "x", "message": "y", "monitorIds": ["mon_abc123"] * 2}),
    ("IncidentChange", {}),
    ("IncidentChange", {"maintenance": True}),
    ("IncidentChange", {"status": None}),
    ("NewMonitor", {"name": "x", "id": "mon_AB"}),
    ("NewMonitor", {"name": "x", "url": "ftp://example.com/"}),
    ("NewMonitor", {"id": "mon_abc999"}),
    ("MonitorChange", {}),
    ("MonitorChange", {"status": "up"}),
    ("NewSubscriber", {}),
    ("NewSubscriber", {"email": "a@example.com", "webhookUrl": "https://x.example/"}),
    ("NewSubscriber", {"email": "a@example.com", "confirmed": True}),
]


@pytest.mark.parametrize(("schema", "body"), REFUSED)
def test_what_the_schema_refuses_the_api_refuses_too(api, world, document, schema, body):
    assert list(validator(document, f"/components/schemas/{schema}").iter_errors(body))
    method, path = {
        "NewIncident": ("POST", "/api/incidents"),
        "IncidentChange": ("PATCH", f"/api/incidents/{world['incident']}"),
        "NewMonitor": ("POST", "/api/monitors"),
        "MonitorChange": ("PATCH", "/api/monitors/mon_abc123"),
        "NewSubscriber": ("POST", "/api/subscribers"),
    }[schema]
    response = api(method, path, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
