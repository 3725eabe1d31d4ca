"""The documented curl commands, run with curl itself against gunicorn.

The seed document promises that its curl commands work verbatim (base URL,
key and id aside) against a running server: here they are, character for
character, run by bash and curl against two gunicorn workers with DEBUG off.
"""

import json
import subprocess

import pytest
from django.conf import settings

from tests.seed import (
    CONTRACT_ORDER,
    DOCUMENTED_INCIDENT,
)
from tests.servers import manage

ENGINE = settings.DATABASES["default"]["ENGINE"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif("sqlite3" not in ENGINE, reason="runs once, on the SQLite pass"),
]

BASE_URL = "https://app.kamustatus.com/api"
DOCUMENTED_KEY = "km_your_api_key"

LIST_INCIDENTS = r"""curl https://app.kamustatus.com/api/incidents \
-H "x-api-key: km_your_api_key"
"""
GET_INCIDENT = r"""curl https://app.kamustatus.com/api/incidents/:incidentId \
-H "x-api-key: km_your_api_key"
"""
CREATE_INCIDENT = r"""curl -X POST https://app.kamustatus.com/api/incidents \
-H "x-api-key: km_your_api_key" \
-H "Content-Type: application/json" \
-d '{
"title": "Scheduled database migration",
"status": "investigating",
"message": "We are performing a planned database migration.",
"monitorIds": ["mon_abc123"]
}'
"""
UPDATE_INCIDENT = r"""curl -X PATCH https://app.kamustatus.com/api/incidents/:incidentId \
-H "x-api-key: km_your_api_key" \
-H "Content-Type: application/json" \
-d '{
"status": "resolved",
"message": "The issue has been resolved. All services are operating normally."
}'
"""
DELETE_INCIDENT = r"""curl -X DELETE https://app.kamustatus.com/api/incidents/:incidentId \
-H "x-api-key: km_your_api_key"
"""
CREATE_MAINTENANCE = r"""curl -X POST https://app.kamustatus.com/api/incidents \
-H "x-api-key: km_your_api_key" \
-H "Content-Type: application/json" \
-d '{
"title": "Planned maintenance",
"status": "monitoring",
"message": "Scheduled maintenance window for infrastructure upgrade.",
"monitorIds": ["mon_abc123", "mon_def456"],
"maintenance": true,
"scheduledStart": "2025-06-01T02:00:00Z",
"scheduledEnd": "2025-06-01T04:00:00Z"
}'
"""

# Groups and order (docs/api.md).
CREATE_GROUP = r"""curl -X POST https://app.kamustatus.com/api/groups \
-H "x-api-key: km_your_api_key" \
-H "Content-Type: application/json" \
-d '{"id": "grp_core", "name": "Core services", "position": 1}'
"""
PLACE_MONITOR = r"""curl -X PATCH https://app.kamustatus.com/api/monitors/mon_abc123 \
-H "x-api-key: km_your_api_key" \
-H "Content-Type: application/json" \
-d '{"groupId": "grp_core", "position": 1, "description": "The public REST API."}'
"""

SEED_EXAMPLE = """
from datetime import UTC, datetime
from incidents.models import Incident, Monitor
Monitor.create_monitor(id="mon_abc123", name="API")
Monitor.create_monitor(id="mon_def456", name="Database")
incident = Incident.open_incident(
    title="API degraded performance",
    message="We are investigating elevated error rates.",
    monitor_ids=["mon_abc123"],
    at=datetime(2025, 5, 15, 8, 30, tzinfo=UTC),
)
incident.post_update(
    "identified",
    "Root cause identified as a database connection pool issue.",
    at=datetime(2025, 5, 15, 8, 45, tzinfo=UTC),
)
"""


def run_curl(command, server, tmp_path, incident_id=""):
    """Run a documented command as written, pointed at the test server."""
    command = (
        command.strip()
        .replace(BASE_URL, server.base)
        .replace(DOCUMENTED_KEY, server.key)
        .replace(":incidentId", incident_id)
    )
    headers, body = tmp_path / "headers", tmp_path / "body"
    result = subprocess.run(
        [
            "bash",
            "-c",
            f"{command} --noproxy '*' -sS -D {headers} -o {body} -w '%{{http_code}}'",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = headers.read_text().splitlines()
    parsed = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if value:
            parsed[name.strip().lower()] = value.strip()
    content = body.read_bytes()
    return int(result.stdout), parsed, json.loads(content) if content else None


def test_the_documented_curl_commands_work_verbatim(gunicorn, tmp_path):
    manage(gunicorn.env, "shell", "-c", SEED_EXAMPLE, timeout=60)

    status, headers, listed = run_curl(LIST_INCIDENTS, gunicorn, tmp_path)
    assert status == 200
    assert headers["content-type"] == "application/json"
    (example,) = listed
    expected = json.loads(DOCUMENTED_INCIDENT)
    expected["id"] = example["id"]
    for update, served in zip(expected["updates"], example["updates"], strict=True):
        update["id"] = served["id"]
    expected.update(maintenance=False, scheduledStart=None, scheduledEnd=None)
    assert example == expected
    assert list(example) == CONTRACT_ORDER

    status, _, shown = run_curl(GET_INCIDENT, gunicorn, tmp_path, example["id"])
    assert (status, shown) == (200, expected)

    status, headers, created = run_curl(CREATE_INCIDENT, gunicorn, tmp_path)
    assert status == 201
    assert headers["location"] == f"{gunicorn.base}/incidents/{created['id']}"
    assert (created["title"], created["status"], created["monitorIds"]) == (
        "Scheduled database migration",
        "investigating",
        ["mon_abc123"],
    )
    assert [u["message"] for u in created["updates"]] == [
        "We are performing a planned database migration."
    ]

    status, _, updated = run_curl(UPDATE_INCIDENT, gunicorn, tmp_path, created["id"])
    assert status == 200
    assert updated["status"] == "resolved"
    assert updated["resolvedAt"] is not None
    assert updated["updates"][0] == created["updates"][0]
    assert [(u["status"], u["message"]) for u in updated["updates"][1:]] == [
        ("resolved", "The issue has been resolved. All services are operating normally.")
    ]

    status, headers, deleted = run_curl(DELETE_INCIDENT, gunicorn, tmp_path, created["id"])
    assert (status, deleted) == (204, None)
    status, _, gone = run_curl(GET_INCIDENT, gunicorn, tmp_path, created["id"])
    assert status == 404
    assert gone["error"]["code"] == "not_found"

    status, _, window = run_curl(CREATE_MAINTENANCE, gunicorn, tmp_path)
    assert status == 201
    assert {name: window[name] for name in CONTRACT_ORDER[1:9]} == {
        "title": "Planned maintenance",
        "status": "monitoring",
        "monitorIds": ["mon_abc123", "mon_def456"],
        "startedAt": "2025-06-01T02:00:00Z",
        "resolvedAt": None,
        "maintenance": True,
        "scheduledStart": "2025-06-01T02:00:00Z",
        "scheduledEnd": "2025-06-01T04:00:00Z",
    }

    status, _, listed = run_curl(LIST_INCIDENTS, gunicorn, tmp_path)
    assert [item["id"] for item in listed] == [window["id"], example["id"]]
    # The same command asking for a compressed answer, as browsers and most
    # HTTP libraries do: gzip on the wire, the same JSON once curl unpacks it.
    for _ in range(2):  # Django's answer, then the one in front of it
        status, headers, packed = run_curl(LIST_INCIDENTS.strip() + " --compressed", gunicorn,
                                           tmp_path)  # fmt: skip
        assert (status, headers["content-encoding"], packed) == (200, "gzip", listed)
        assert headers["etag"].startswith('W/"')


def test_the_documented_group_commands_work_verbatim(gunicorn, tmp_path):
    manage(gunicorn.env, "shell", "-c", SEED_EXAMPLE, timeout=60)
    status, headers, group = run_curl(CREATE_GROUP, gunicorn, tmp_path)
    assert status == 201
    assert headers["location"].endswith("/api/groups/grp_core")
    assert group == {
        "id": "grp_core",
        "name": "Core services",
        "position": 1,
        "monitorIds": [],
        "description": None,
    }
    status, _, monitor = run_curl(PLACE_MONITOR, gunicorn, tmp_path)
    assert status == 200
    assert (monitor["groupId"], monitor["position"], monitor["description"]) == (
        "grp_core",
        1,
        "The public REST API.",
    )


ERROR_PROBES = [
    ("curl https://app.kamustatus.com/api/nowhere", 404, "not_found"),
    ("curl -X PUT https://app.kamustatus.com/api/incidents", 405, "method_not_allowed"),
    ("curl https://app.kamustatus.com/api/incidents", 401, "unauthorized"),
    (
        "curl -X POST https://app.kamustatus.com/api/incidents "
        '-H "x-api-key: km_your_api_key" -d "title=x"',
        415,
        "unsupported_media_type",
    ),
]


def test_a_production_server_answers_errors_in_json(gunicorn, tmp_path):
    for command, status, code in ERROR_PROBES:
        answered, headers, body = run_curl(command, gunicorn, tmp_path)
        assert answered == status, command
        assert headers["content-type"] == "application/json"
        assert body["error"]["code"] == code
    big = tmp_path / "big.json"
    big.write_text('{"title": "' + "x" * 70_000 + '"}')
    answered, _, body = run_curl(
        "curl -X POST https://app.kamustatus.com/api/incidents "
        f'-H "x-api-key: km_your_api_key" -H "Content-Type: application/json" -d @{big}',
        gunicorn,
        tmp_path,
    )
    assert (answered, body["error"]["code"]) == (413, "payload_too_large")
