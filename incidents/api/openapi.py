"""The OpenAPI 3.1 description of the keyed API, served at /api/openapi.json.

Request bodies are written from the same ``Spec``s that validate them, and
tests/test_api_openapi.py checks every documented response against real
ones, so this document describes the API as built.

The document itself is public (no key): it describes the API and holds no data.
"""

import copy
from functools import lru_cache

from incidents.alerts.models import Alert
from incidents.api.decorators import MAX_BODY_BYTES, api_view, dispatch, json_response
from incidents.api.paging import DEFAULT_LIMIT, MAX_LIMIT
from incidents.api.validation import (
    GROUP_CHANGE,
    INCIDENT_CHANGE,
    MONITOR_CHANGE,
    NEW_GROUP,
    NEW_INCIDENT,
    NEW_MONITOR,
    NO_NUL_PATTERN,
    UPDATE_CHANGE,
)
from incidents.checks import definition as check_definition
from incidents.groups.models import GROUP
from incidents.models import DESCRIPTION_MAX_LENGTH, POSITION_MAX, Incident, Monitor
from incidents.models.incidents import INCIDENT
from incidents.models.monitors import MONITOR
from incidents.subscribers.api import NEW_SUBSCRIBER

UTC_TIMESTAMP = {
    "type": "string",
    "format": "date-time",
    "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
    "description": "RFC 3339 in UTC, Z suffix, whole seconds.",
}
NULLABLE_UTC_TIMESTAMP = {**UTC_TIMESTAMP, "type": ["string", "null"]}

DESCRIPTION = f"""\
Manage incidents, post updates to the incident timeline, schedule maintenance
windows, and create and report on monitors.

**Authentication.** Every operation except this document needs an API key in the
`x-api-key` header (create one in the admin or with `python manage.py createapikey
NAME`). A missing, unknown or revoked key answers `401 unauthorized` before any
data or body is read; after repeated wrong keys from one address, further
wrong keys get `429 rate_limited` (with `Retry-After`) for a while. While the
database is unreachable, keyed operations answer `503 unavailable` (with
`Retry-After`); nothing is written, and retrying later is safe. Unknown paths
under `/api` (`404 not_found`) and methods a URL does not answer
(`405 method_not_allowed`, with an `Allow` header listing the methods it does
answer) need no key: they reveal nothing.

**Errors** are always JSON: `{{"error": {{"code", "message", "fields"}}}}`;
`fields` (validation errors only) maps each field or query parameter at fault
to what is wrong with it.

**Bodies** are JSON objects sent with `Content-Type: application/json`
(`; charset=utf-8` allowed), at most {MAX_BODY_BYTES} bytes (64 KiB). Unknown
fields, wrong types, JSON `null` where a value is required, strings with NUL
characters, timestamps without a timezone and repeated keys are refused.
Timestamps are RFC 3339; offsets are normalised to UTC and fractions of a
second dropped. Responses write timestamps in UTC with a `Z` and whole seconds.

**Paging.** `GET /incidents` lists newest `startedAt` first, at most `limit`
({DEFAULT_LIMIT} by default, {MAX_LIMIT} at most). When there is more, the
`Link` header holds the next page's URL (`rel="next"`) with an opaque `cursor`;
paging stays correct while incidents are being added.

**Polling.** GET answers about incidents and monitors carry an `ETag`; send it
back in `If-None-Match` and get `304 Not Modified` without a body while nothing
has changed. Answers are `Cache-Control: private, no-cache`: no shared cache
keeps them.

**Checks.** A monitor's `check` makes it watch by itself: `http` (status,
keyword, latency, certificate expiry), `tcp`, or `heartbeat` (a job requests
its `pingUrl` — `GET`, `POST` or `HEAD`, no key — at least every `period`
seconds; `/fail` appended reports a failure). Targets on loopback, private,
link-local, multicast or unspecified addresses are refused unless the
operator allows them.
"""


def error_schema(*codes):
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "additionalProperties": False,
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": list(codes)},
                    "message": {"type": "string"},
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "Field or parameter name → what is wrong (validation only).",
                    },
                },
            }
        },
    }


def error_response(description, *codes, headers=None):
    response = {
        "description": description,
        "content": {"application/json": {"schema": error_schema(*codes)}},
    }
    if headers:
        response["headers"] = headers
    return response


def ref(kind, name):
    return {"$ref": f"#/components/{kind}/{name}"}


def json_content(schema):
    return {"application/json": {"schema": schema}}


def success(description, schema, headers=None):
    response = {"description": description, "content": json_content(schema)}
    if headers:
        response["headers"] = headers
    return response


def request_body(name):
    return {"required": True, "content": json_content(ref("schemas", name))}


ID_PARAMETER = {
    "subscriberId": {
        "name": "subscriberId",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "example": "sub_001",
    },
    "incidentId": {
        "name": "incidentId",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "example": "inc_001",
    },
    "updateId": {
        "name": "updateId",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "example": "upd_001",
    },
    "groupId": {
        "name": "groupId",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "example": "grp_core",
    },
    "monitorId": {
        "name": "monitorId",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "example": "mon_abc123",
    },
}

STATUS_LIST = "(" + "|".join(Incident.STATUSES) + ")"

LIST_PARAMETERS = [
    {
        "name": "status",
        "in": "query",
        "description": "Only incidents with one of these statuses (comma-separated).",
        "schema": {"type": "string", "pattern": f"^{STATUS_LIST}(,{STATUS_LIST})*$"},
        "example": "investigating,identified",
    },
    {
        "name": "maintenance",
        "in": "query",
        "description": "true: only maintenance windows; false: only ordinary incidents.",
        "schema": {"type": "string", "enum": ["true", "false"]},
    },
    {
        "name": "monitorId",
        "in": "query",
        "description": "Only incidents affecting this (existing) monitor.",
        "schema": {"type": "string", "minLength": 1, "pattern": NO_NUL_PATTERN},
        "example": "mon_abc123",
    },
    {
        "name": "limit",
        "in": "query",
        "description": "Page size.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    },
    {
        "name": "cursor",
        "in": "query",
        "description": "Where the page starts: copy it from the Link header of the previous page.",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
    },
]

RESPONSES = {
    "Unauthorized": error_response(
        "Missing, unknown or revoked API key.",
        "unauthorized",
        headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
    ),
    "TooManyRequests": error_response(
        "Too many wrong API keys from this address; retry after Retry-After seconds.",
        "rate_limited",
        headers={
            "Retry-After": {
                "required": True,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
                "description": "Seconds until wrong keys are answered with 401 again.",
            }
        },
    ),
    "Unavailable": error_response(
        "The database is unreachable for now; nothing was changed. Retry later.",
        "unavailable",
        headers={
            "Retry-After": {
                "required": True,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
                "description": "Seconds to wait before retrying.",
            }
        },
    ),
    "NotFound": error_response("No such resource.", "not_found"),
    "MethodNotAllowed": error_response(
        "The URL does not answer this method.",
        "method_not_allowed",
        headers={
            "Allow": {
                "required": True,
                "schema": {"type": "string"},
                "description": "The methods the URL answers.",
            }
        },
    ),
    "UnsupportedMediaType": error_response(
        "The body is not sent as application/json.", "unsupported_media_type"
    ),
    "PayloadTooLarge": error_response(
        f"The body is over {MAX_BODY_BYTES} bytes (64 KiB).", "payload_too_large"
    ),
    "BadRequest": error_response(
        "Malformed JSON, or fields (or query parameters) that break the rules.",
        "invalid_json",
        "validation_error",
    ),
    "InvalidQuery": error_response("Query parameters that break the rules.", "validation_error"),
    "Conflict": error_response("The current state of things forbids the change.", "conflict"),
    "IdempotencyConflict": error_response(
        "The current state of things forbids the change, or a request with this "
        "Idempotency-Key is still in progress.",
        "conflict",
    ),
    "IdempotencyKeyReused": error_response(
        "The Idempotency-Key came with a different request before.", "idempotency_key_reused"
    ),
}

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retry safely: within 24 h a repeat with the same key and body gets the "
    "first answer again (status, body, Location) and writes nothing. Keys are per API key.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}


def with_idempotency(paths):
    """Every POST takes an Idempotency-Key (incidents/idempotency.py)."""
    paths = copy.deepcopy(paths)
    for item in paths.values():
        operation = item.get("post")
        if operation is not None:
            operation["parameters"] = [*operation.get("parameters", []), IDEMPOTENCY_KEY]
            operation["responses"].setdefault("400", ref("responses", "BadRequest"))
            operation["responses"]["409"] = ref("responses", "IdempotencyConflict")
            operation["responses"]["422"] = ref("responses", "IdempotencyKeyReused")
    return paths


def shown_text(field):
    """A text field as answers show it, within the domain's limits."""
    return {
        "type": "string",
        "minLength": 1 if field.not_blank else 0,
        "maxLength": field.max_length,
    }


def always_serialised(properties):
    """A response object: every field, always (``required`` is all of them)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(properties),
        "properties": properties,
    }


SCHEMAS = {
    "Update": always_serialised(
        {
            "id": {"type": "string", "pattern": "^upd_[a-z0-9]+$"},
            "status": {"type": "string", "enum": Incident.STATUSES},
            "message": {"type": "string"},
            "createdAt": UTC_TIMESTAMP,
        }
    ),
    "Incident": always_serialised(
        {
            "id": {"type": "string", "pattern": "^inc_[a-z0-9]+$"},
            "title": shown_text(INCIDENT["title"]),
            "status": {"type": "string", "enum": Incident.STATUSES},
            "monitorIds": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "startedAt": {
                **UTC_TIMESTAMP,
                "description": "Creation time; for a maintenance window, scheduledStart.",
            },
            "resolvedAt": {
                **NULLABLE_UTC_TIMESTAMP,
                "description": "Set when the status becomes resolved; cleared on reopening.",
            },
            "maintenance": {"type": "boolean"},
            "scheduledStart": NULLABLE_UTC_TIMESTAMP,
            "scheduledEnd": NULLABLE_UTC_TIMESTAMP,
            "updates": {
                "type": "array",
                "items": ref("schemas", "Update"),
                "minItems": 1,
                "description": "The timeline, oldest first.",
            },
        }
    ),
    "Monitor": always_serialised(
        {
            "id": {"type": "string", "pattern": "^mon_[a-z0-9]+$"},
            "name": shown_text(MONITOR["name"]),
            "status": {"type": "string", "enum": Monitor.STATUSES},
            "inMaintenance": {
                "type": "boolean",
                "description": "An active maintenance window covers the monitor.",
            },
            "url": {"type": ["string", "null"]},
            "description": {"type": ["string", "null"], "maxLength": DESCRIPTION_MAX_LENGTH},
            "groupId": {
                "type": ["string", "null"],
                "pattern": "^grp_[a-z0-9]+$",
                "description": "The group the monitor is shown in, or null.",
            },
            "position": {
                "type": "integer",
                "minimum": 0,
                "maximum": POSITION_MAX,
                "description": "Order on the page within its group; ties: oldest first.",
            },
            "check": {
                "oneOf": [*check_definition.response_schema()["oneOf"], {"type": "null"}],
                "description": "What the monitor watches by itself, or null: it changes "
                "only when reported.",
            },
            "lastCheckedAt": {
                **NULLABLE_UTC_TIMESTAMP,
                "description": "The last check run (or ping received).",
            },
            "responseTimeMs": {
                "type": ["integer", "null"],
                "minimum": 0,
                "description": "The last check's response time.",
            },
            "lastError": {
                "type": ["string", "null"],
                "description": "The last failed (or degraded) check's reason, such as "
                '"status 503" or "connection refused".',
            },
        }
    ),
    "CheckResult": always_serialised(
        {
            "checkedAt": UTC_TIMESTAMP,
            "status": {"type": "string", "enum": Monitor.STATUSES},
            "responseTimeMs": {"type": ["integer", "null"], "minimum": 0},
            "error": {"type": ["string", "null"]},
        }
    ),
    "Alert": always_serialised(
        {
            "id": {"type": "string", "pattern": "^alr_[a-z0-9]+$"},
            "monitorId": {"type": "string", "description": "Kept when the monitor is deleted."},
            "monitorName": {"type": "string"},
            "kind": {"type": "string", "enum": [kind for kind, _ in Alert.KIND_CHOICES]},
            "reason": {
                "type": "string",
                "enum": [reason for reason, _ in Alert.REASON_CHOICES],
                "description": "transition: the monitor changed state; window_end: it was "
                "still failing when a maintenance window over it ended.",
            },
            "fromStatus": {"type": ["string", "null"], "enum": [*Monitor.STATUSES, None]},
            "toStatus": {"type": "string", "enum": Monitor.STATUSES},
            "channel": {
                "type": ["object", "null"],
                "description": "null: no channel was configured, so the alert was recorded "
                "as suppressed and sent nowhere.",
                "additionalProperties": False,
                "required": ["kind", "name"],
                "properties": {
                    "kind": {"type": "string", "enum": ["email", "webhook"]},
                    "name": {"type": "string"},
                },
            },
            "outcome": {
                "type": "string",
                "enum": Alert.OUTCOMES,
                "description": "sent, failed and suppressed are final; pending and delivering "
                "are on their way.",
            },
            "windowId": {
                "type": ["string", "null"],
                "description": "The maintenance window that suppressed the alert (or whose "
                "end sent it).",
            },
            "attempts": {"type": "integer", "minimum": 0},
            "error": {"type": ["string", "null"], "description": "The last attempt's error."},
            "occurredAt": UTC_TIMESTAMP,
            "createdAt": UTC_TIMESTAMP,
            "finishedAt": NULLABLE_UTC_TIMESTAMP,
        }
    ),
    "NewIncident": NEW_INCIDENT.schema(),
    "IncidentChange": INCIDENT_CHANGE.schema(),
    "UpdateChange": UPDATE_CHANGE.schema(),
    "NewMonitor": NEW_MONITOR.schema(),
    "MonitorChange": MONITOR_CHANGE.schema(),
    "Group": always_serialised(
        {
            "id": {"type": "string", "pattern": "^grp_[a-z0-9]+$"},
            "name": shown_text(GROUP["name"]),
            "position": {
                "type": "integer",
                "minimum": 0,
                "maximum": POSITION_MAX,
                "description": "Order on the page among groups and ungrouped monitors.",
            },
            "monitorIds": {
                "type": "array",
                "items": {"type": "string"},
                "uniqueItems": True,
                "description": "The group's monitors in page order (read-only: set a "
                "monitor's groupId to move it).",
            },
            "description": {"type": ["string", "null"], "maxLength": DESCRIPTION_MAX_LENGTH},
        }
    ),
    "NewGroup": NEW_GROUP.schema(),
    "GroupChange": GROUP_CHANGE.schema(),
}

LINK_HEADER = {
    "Link": {
        "description": 'The next page, as `<URL>; rel="next"`; absent on the last page.',
        "schema": {"type": "string"},
    }
}
ETAG_HEADER = {
    "ETag": {
        "required": True,
        "description": "This version of the answer; send it back in If-None-Match.",
        "schema": {"type": "string"},
    }
}
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "description": "The ETag of a copy you hold: 304 without a body while it is current.",
    "schema": {"type": "string"},
}
NOT_MODIFIED = {
    "description": "Not modified: the copy named by If-None-Match is current.",
    "headers": ETAG_HEADER,
}


def revalidated(description, schema, headers=None):
    """A GET answer with an ETag, and the 304 that revalidating it may give."""
    return {
        "200": success(description, schema, headers={**ETAG_HEADER, **(headers or {})}),
        "304": NOT_MODIFIED,
    }


LOCATION_HEADER = {
    "Location": {
        "required": True,
        "description": "The new resource's URL.",
        "schema": {"type": "string", "format": "uri"},
    }
}


def responses(*names):
    codes = {
        "BadRequest": "400",
        "InvalidQuery": "400",
        "Unauthorized": "401",
        "TooManyRequests": "429",
        "NotFound": "404",
        "Conflict": "409",
        "PayloadTooLarge": "413",
        "UnsupportedMediaType": "415",
        "Unavailable": "503",
    }
    if "Unauthorized" in names:
        # The key check refuses wrong keys with 429 once an address has sent too many;
        # it reads the database, so every keyed operation may answer 503.
        names = (*names, "TooManyRequests", "Unavailable")
    return {codes[name]: ref("responses", name) for name in names}


BODY_ERRORS = ("BadRequest", "Unauthorized", "PayloadTooLarge", "UnsupportedMediaType")

PATHS = {
    "/incidents": {
        "get": {
            "operationId": "listIncidents",
            "summary": "List incidents",
            "tags": ["Incidents"],
            "parameters": [*LIST_PARAMETERS, IF_NONE_MATCH],
            "responses": {
                **revalidated(
                    "Incidents, newest startedAt first.",
                    {"type": "array", "items": ref("schemas", "Incident")},
                    headers=LINK_HEADER,
                ),
                **responses("InvalidQuery", "Unauthorized"),
            },
        },
        "post": {
            "operationId": "createIncident",
            "summary": "Create an incident or a maintenance window",
            "description": "Creates the incident with its first update.",
            "tags": ["Incidents"],
            "requestBody": request_body("NewIncident"),
            "responses": {
                "201": success("Created.", ref("schemas", "Incident"), headers=LOCATION_HEADER),
                **responses(*BODY_ERRORS),
            },
        },
    },
    "/incidents/{incidentId}": {
        "parameters": [ID_PARAMETER["incidentId"]],
        "get": {
            "operationId": "getIncident",
            "summary": "Get an incident",
            "tags": ["Incidents"],
            "parameters": [IF_NONE_MATCH],
            "responses": {
                **revalidated("The incident.", ref("schemas", "Incident")),
                **responses("Unauthorized", "NotFound"),
            },
        },
        "patch": {
            "operationId": "updateIncident",
            "summary": "Update an incident",
            "description": (
                "A body with status and/or message appends exactly one update to the "
                "timeline (a missing status keeps the current one; a missing message is "
                "empty). title, monitorIds and a window's schedule are edited in place."
            ),
            "tags": ["Incidents"],
            "requestBody": request_body("IncidentChange"),
            "responses": {
                "200": success("The incident as changed.", ref("schemas", "Incident")),
                **responses(*BODY_ERRORS, "NotFound"),
            },
        },
        "delete": {
            "operationId": "deleteIncident",
            "summary": "Delete an incident",
            "description": "The deletion is kept in the audit trail with the key that made it.",
            "tags": ["Incidents"],
            "responses": {
                "204": {"description": "Deleted."},
                **responses("Unauthorized", "NotFound"),
            },
        },
    },
    "/incidents/{incidentId}/updates/{updateId}": {
        "parameters": [ID_PARAMETER["incidentId"], ID_PARAMETER["updateId"]],
        "patch": {
            "operationId": "updateTimelineEntry",
            "summary": "Fix a timeline entry's message",
            "description": (
                "Replaces the entry's message (a typo): no new entry, the status is "
                "unchanged and nobody is notified. The old text is kept in the audit trail."
            ),
            "tags": ["Incidents"],
            "requestBody": request_body("UpdateChange"),
            "responses": {
                "200": success("The incident as changed.", ref("schemas", "Incident")),
                **responses(*BODY_ERRORS, "NotFound"),
            },
        },
        "delete": {
            "operationId": "deleteTimelineEntry",
            "summary": "Delete a timeline entry",
            "description": (
                "The incident's status and resolvedAt then follow the new latest entry. "
                "Refused (409) for the only entry. Kept in the audit trail."
            ),
            "tags": ["Incidents"],
            "responses": {
                "204": {"description": "Deleted."},
                **responses("Unauthorized", "NotFound", "Conflict"),
            },
        },
    },
    "/monitors": {
        "get": {
            "operationId": "listMonitors",
            "summary": "List monitors",
            "tags": ["Monitors"],
            "parameters": [IF_NONE_MATCH],
            "responses": {
                **revalidated(
                    "Every monitor, in page order (groups and monitors by position).",
                    {"type": "array", "items": ref("schemas", "Monitor")},
                ),
                **responses("Unauthorized"),
            },
        },
        "post": {
            "operationId": "createMonitor",
            "summary": "Create a monitor",
            "tags": ["Monitors"],
            "requestBody": request_body("NewMonitor"),
            "responses": {
                "201": success("Created.", ref("schemas", "Monitor"), headers=LOCATION_HEADER),
                **responses(*BODY_ERRORS, "Conflict"),
            },
        },
    },
    "/monitors/{monitorId}": {
        "parameters": [ID_PARAMETER["monitorId"]],
        "get": {
            "operationId": "getMonitor",
            "summary": "Get a monitor",
            "tags": ["Monitors"],
            "parameters": [IF_NONE_MATCH],
            "responses": {
                **revalidated("The monitor.", ref("schemas", "Monitor")),
                **responses("Unauthorized", "NotFound"),
            },
        },
        "patch": {
            "operationId": "updateMonitor",
            "summary": "Update a monitor or report its status",
            "description": (
                "A change of status is recorded as a transition; degraded and down raise "
                "an alert unless a maintenance window covers the monitor."
            ),
            "tags": ["Monitors"],
            "requestBody": request_body("MonitorChange"),
            "responses": {
                "200": success("The monitor as changed.", ref("schemas", "Monitor")),
                **responses(*BODY_ERRORS, "NotFound"),
            },
        },
        "delete": {
            "operationId": "deleteMonitor",
            "summary": "Delete a monitor",
            "description": "Refused (409) while an unresolved incident references the monitor.",
            "tags": ["Monitors"],
            "responses": {
                "204": {"description": "Deleted."},
                **responses("Unauthorized", "NotFound", "Conflict"),
            },
        },
    },
    "/monitors/{monitorId}/checks": {
        "parameters": [ID_PARAMETER["monitorId"]],
        "get": {
            "operationId": "listMonitorChecks",
            "summary": "List a monitor's check results",
            "description": (
                "Every run of the monitor's check (and every ping that changed something), "
                "newest first; kept CHECK_RESULTS_DAYS days (30 by default), then folded "
                "into hourly aggregates."
            ),
            "tags": ["Monitors"],
            "parameters": [p for p in LIST_PARAMETERS if p["name"] in ("limit", "cursor")],
            "responses": {
                "200": success(
                    "Results, newest first.",
                    {"type": "array", "items": ref("schemas", "CheckResult")},
                    headers=LINK_HEADER,
                ),
                **responses("InvalidQuery", "Unauthorized", "NotFound"),
            },
        },
    },
    "/groups": {
        "get": {
            "operationId": "listGroups",
            "summary": "List monitor groups",
            "tags": ["Monitors"],
            "parameters": [IF_NONE_MATCH],
            "responses": {
                **revalidated(
                    "Every group, in page order.",
                    {"type": "array", "items": ref("schemas", "Group")},
                ),
                **responses("Unauthorized"),
            },
        },
        "post": {
            "operationId": "createGroup",
            "summary": "Create a monitor group",
            "description": "Monitors join it through their groupId.",
            "tags": ["Monitors"],
            "requestBody": request_body("NewGroup"),
            "responses": {
                "201": success("Created.", ref("schemas", "Group"), headers=LOCATION_HEADER),
                **responses(*BODY_ERRORS, "Conflict"),
            },
        },
    },
    "/groups/{groupId}": {
        "parameters": [ID_PARAMETER["groupId"]],
        "get": {
            "operationId": "getGroup",
            "summary": "Get a monitor group",
            "tags": ["Monitors"],
            "parameters": [IF_NONE_MATCH],
            "responses": {
                **revalidated("The group.", ref("schemas", "Group")),
                **responses("Unauthorized", "NotFound"),
            },
        },
        "patch": {
            "operationId": "updateGroup",
            "summary": "Rename, describe or move a monitor group",
            "tags": ["Monitors"],
            "requestBody": request_body("GroupChange"),
            "responses": {
                "200": success("The group as changed.", ref("schemas", "Group")),
                **responses(*BODY_ERRORS, "NotFound"),
            },
        },
        "delete": {
            "operationId": "deleteGroup",
            "summary": "Delete a monitor group",
            "description": "Its monitors are kept, in no group (their groupId becomes null).",
            "tags": ["Monitors"],
            "responses": {
                "204": {"description": "Deleted."},
                **responses("Unauthorized", "NotFound"),
            },
        },
    },
    "/alerts": {
        "get": {
            "operationId": "listAlerts",
            "summary": "List alerts",
            "description": (
                "Every alert decided, one per channel: sent, failed, suppressed by a "
                "maintenance window, or still on its way. Newest first."
            ),
            "tags": ["Alerts"],
            "parameters": [
                {
                    "name": "monitorId",
                    "in": "query",
                    "description": "Only this monitor's alerts (also once it is deleted).",
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,40}$"},
                    "example": "mon_abc123",
                },
                {
                    "name": "outcome",
                    "in": "query",
                    "description": "Only alerts with one of these outcomes (comma-separated).",
                    "schema": {
                        "type": "string",
                        "pattern": "^({0})(,({0}))*$".format("|".join(Alert.OUTCOMES)),
                    },
                    "example": "suppressed",
                },
                *[p for p in LIST_PARAMETERS if p["name"] in ("limit", "cursor")],
            ],
            "responses": {
                "200": success(
                    "Alerts, newest first.",
                    {"type": "array", "items": ref("schemas", "Alert")},
                    headers=LINK_HEADER,
                ),
                **responses("InvalidQuery", "Unauthorized"),
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "getOpenApiDocument",
            "summary": "This document",
            "tags": ["Meta"],
            "security": [],
            "responses": {"200": success("OpenAPI 3.1.", {"type": "object"})},
        }
    },
}


# --- Uptime -------------------------------------------------------------------

SECONDS = {"type": "integer", "minimum": 0}
UPTIME_RATIO = {
    "type": ["number", "null"],
    "minimum": 0,
    "maximum": 1,
    "description": "(operational + degraded) / (operational + degraded + down); null when 0.",
}
SCHEMAS["UptimeDay"] = always_serialised(
    {
        "date": {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        "operationalSeconds": SECONDS,
        "degradedSeconds": SECONDS,
        "downSeconds": SECONDS,
        "maintenanceSeconds": SECONDS,
        "noDataSeconds": SECONDS,
        "uptime": UPTIME_RATIO,
    }
)
SCHEMAS["Uptime"] = always_serialised(
    {
        "monitorId": {"type": "string"},
        "timeZone": {"type": "string", "description": "The page's time zone (PAGE_TIME_ZONE)."},
        "days": {"type": "array", "items": ref("schemas", "UptimeDay"), "minItems": 1},
        "uptime": UPTIME_RATIO,
    }
)
PATHS["/monitors/{monitorId}/uptime"] = {
    "parameters": [ID_PARAMETER["monitorId"]],
    "get": {
        "operationId": "getMonitorUptime",
        "summary": "Get a monitor's uptime per day",
        "description": (
            "Seconds in each state per calendar day in the page's time zone (a DST day "
            "has 23 or 25 hours), oldest first, today last and counted up to now. Time "
            "before the monitor existed is noData; time under an active maintenance "
            "window covering it is maintenance, whatever its state."
        ),
        "tags": ["Monitors"],
        "parameters": [
            {
                "name": "days",
                "in": "query",
                "description": "How many days, today included (90 by default).",
                "schema": {"type": "integer", "minimum": 1, "maximum": 365, "default": 90},
            }
        ],
        "responses": {
            "200": success("The days, oldest first.", ref("schemas", "Uptime")),
            **responses("InvalidQuery", "Unauthorized", "NotFound"),
        },
    },
}


# --- Subscribers ------------------------------------------------------------

SCHEMAS["Subscriber"] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "monitorIds", "confirmed", "createdAt"],
    "properties": {
        "id": {"type": "string", "pattern": "^sub_[a-z0-9]+$"},
        "email": {"type": "string"},
        "webhookUrl": {"type": "string"},
        "monitorIds": {
            "type": "array",
            "items": {"type": "string"},
            "uniqueItems": True,
            "description": "The monitors chosen; empty: everything.",
        },
        "confirmed": {"type": "boolean"},
        "createdAt": UTC_TIMESTAMP,
    },
    "oneOf": [{"required": ["email"]}, {"required": ["webhookUrl"]}],
}
SCHEMAS["NewSubscriber"] = NEW_SUBSCRIBER.schema()
SCHEMAS["CreatedSubscriber"] = {
    **SCHEMAS["Subscriber"],
    "properties": {
        **SCHEMAS["Subscriber"]["properties"],
        "webhookSecret": {
            "type": "string",
            "description": "Webhooks only, shown once: the secret of Kamustatus-Signature.",
        },
    },
}

PATHS["/subscribers"] = {
    "get": {
        "operationId": "listSubscribers",
        "summary": "List subscribers",
        "description": "Newest first; e-mail subscribers and webhooks.",
        "tags": ["Subscribers"],
        "parameters": [p for p in LIST_PARAMETERS if p["name"] in ("limit", "cursor")],
        "responses": {
            "200": success(
                "Subscribers, newest first.",
                {"type": "array", "items": ref("schemas", "Subscriber")},
                headers=LINK_HEADER,
            ),
            **responses("InvalidQuery", "Unauthorized"),
        },
    },
    "post": {
        "operationId": "createSubscriber",
        "summary": "Add a subscriber",
        "description": (
            "With email: a confirmation mail is sent (unless skipConfirmation), and "
            "nothing else until it is confirmed; an address already subscribed is a 409. "
            "With webhookUrl: confirmed at once; each event is a signed JSON POST "
            '(Kamustatus-Signature, as for alerts) of {"id", "type", "occurredAt", '
            '"incident"}.'
        ),
        "tags": ["Subscribers"],
        "requestBody": request_body("NewSubscriber"),
        "responses": {
            "201": success("Added.", ref("schemas", "CreatedSubscriber"), headers=LOCATION_HEADER),
            **responses(*BODY_ERRORS, "Conflict"),
        },
    },
}
PATHS["/subscribers/{subscriberId}"] = {
    "parameters": [ID_PARAMETER["subscriberId"]],
    "get": {
        "operationId": "getSubscriber",
        "summary": "Get a subscriber",
        "tags": ["Subscribers"],
        "responses": {
            "200": success("The subscriber.", ref("schemas", "Subscriber")),
            **responses("Unauthorized", "NotFound"),
        },
    },
    "delete": {
        "operationId": "deleteSubscriber",
        "summary": "Delete a subscriber",
        "description": "Deletes the address (or webhook); mail not yet sent to it is cancelled.",
        "tags": ["Subscribers"],
        "responses": {
            "204": {"description": "Deleted."},
            **responses("Unauthorized", "NotFound"),
        },
    },
}


@lru_cache(maxsize=1)
def build_document():
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": "Kamustatus API", "version": "1.0.0", "description": DESCRIPTION},
        "servers": [{"url": "/api"}],
        "security": [{"apiKey": []}],
        "tags": [
            {"name": "Incidents", "description": "Incidents, their timeline, maintenance windows."},
            {"name": "Monitors", "description": "What the status page reports on."},
            {"name": "Alerts", "description": "What was sent, failed or suppressed."},
            {"name": "Subscribers", "description": "Who is told about incidents and windows."},
            {"name": "Meta"},
        ],
        "paths": with_idempotency(PATHS),
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
            "schemas": SCHEMAS,
            "responses": RESPONSES,
        },
    }


def get_document(request):
    return json_response(build_document())


@api_view
def document(request):
    return dispatch(request, GET=get_document)
