"""Fuzzing the keyed API against its own OpenAPI document (schemathesis).

Every operation of /api/openapi.json is driven through the WSGI application
with generated requests — valid ones and deliberately invalid ones (wrong
types, missing fields, bad enums, odd strings) — sent with a valid key, a
wrong key or none, against a database holding real monitors and incidents so
that paths hit existing resources as well as missing ones. Every response must
be no 5xx and conform to the document: status code, content type, headers and
body schema.
"""

import json
from collections import Counter

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Examples per operation and generation mode: 18 operations × 2 modes × this
# keeps the whole run to well under a minute on two cores.
EXAMPLES = 40

# Counted across the run and printed at the end (the closing figures).
TALLY = Counter()

# Schemathesis's WSGI transport asks for gzip (the requests library's default
# headers) but hands the checks the bytes as sent, unpacked; clients that ask
# for gzip unpack it (tests/test_api_fast_path.py, tests/test_api_curl.py).
IDENTITY = "identity"


@pytest.fixture
def api_schema(settings):
    # Wrong keys are part of the fuzzing; the per-address limit would soon
    # turn all of them into 429s (tested on its own in test_ratelimit.py).
    settings.AUTH_FAILURE_LIMIT = 10**9
    # Requests run inside the test's transaction, so, as Django's test client
    # does, keep the WSGI handler from closing the connection after each one.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def resources(make_monitor, make_incident):
    """Existing ids for path parameters, besides whatever the fuzzer makes up."""
    from datetime import UTC, datetime

    from incidents.groups.models import MonitorGroup

    groups = [
        MonitorGroup.create_group(id="grp_core", name="Core"),
        MonitorGroup.create_group(name="Edge"),
    ]
    monitors = [make_monitor(id="mon_abc123", group_id="grp_core"), make_monitor(id="mon_def456")]
    incidents = [
        make_incident(title="Open", monitor_ids=["mon_abc123"]),
        make_incident(
            title="Window",
            scheduled_start=datetime(2030, 1, 1, tzinfo=UTC),
            scheduled_end=datetime(2030, 1, 2, tzinfo=UTC),
        ),
    ]
    resolved = make_incident(title="Done")
    resolved.resolve("Fixed.")
    incidents.append(resolved)
    incidents[0].post_update(message="A second entry.")
    from incidents.subscribers.models import Subscriber

    subscribers = [
        Subscriber.objects.add_email(f"fuzz{n}@example.com", skip_confirmation=True)
        for n in range(2)
    ]
    return {
        "incidentId": [i.id for i in incidents],
        "monitorId": [m.id for m in monitors],
        # Timeline entries with their incident: (incidentId, updateId).
        "updateId": [(i.id, u.id) for i in incidents for u in i.updates.all()],
        "subscriberId": [s.id for s in subscribers],
        "groupId": [g.id for g in groups],
    }


def strategy_for(operation, mode, resources):
    strategies = [operation.as_strategy(generation_mode=mode)]
    names = [p.name for p in operation.path_parameters]
    if names and mode == GenerationMode.POSITIVE:
        # Half the time, aim at a resource that exists.
        if "updateId" in names:
            known = st.sampled_from(resources["updateId"]).map(
                lambda pair: {"incidentId": pair[0], "updateId": pair[1]}
            )
        else:
            known = st.fixed_dictionaries(
                {name: st.sampled_from(resources[name]) for name in names}
            )
        strategies.append(known.flatmap(lambda ids: operation.as_strategy(path_parameters=ids)))
    return st.one_of(strategies)


def run_operation(operation, mode, resources, raw_key):
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(
        case=strategy_for(operation, mode, resources),
        key=st.sampled_from(["valid", "valid", "wrong", "none"]),
    )
    def fuzz(case, key):
        case.headers = dict(case.headers or {})
        for name in [h for h in case.headers if h.lower() == "x-api-key"]:
            del case.headers[name]
        if key == "valid":
            case.headers["x-api-key"] = raw_key
        elif key == "wrong":
            case.headers["x-api-key"] = "km_" + "x" * 43
        case.headers["Accept-Encoding"] = IDENTITY
        response = case.call_and_validate(checks=CHECKS)
        TALLY["requests"] += 1
        TALLY[f"{response.status_code // 100}xx"] += 1
        if response.status_code == 401:
            assert raw_key not in response.text
        if response.status_code >= 400:
            assert json.loads(response.content)["error"]["code"]

    fuzz()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented(api_schema, resources, raw_key, mode, capsys):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    documented = {
        f"{method.upper()} {path}"
        for path, item in api_schema.raw_schema["paths"].items()
        for method in item
        if method != "parameters"
    }
    # schemathesis leaves out the document's own URL; everything else is fuzzed.
    assert {o.label for o in operations} == documented - {"GET /openapi.json"}
    before = TALLY["requests"]
    for operation in operations:
        run_operation(operation, mode, resources, raw_key)
    made = TALLY["requests"] - before
    with capsys.disabled():  # the closing figures, shown on every run
        print(f"\nfuzzed {made} requests ({mode.value}); so far {dict(TALLY)}")
    assert TALLY["5xx"] == 0
    assert made >= len(operations) * 10


# Hostile strings from issue 18 (office pastes, spoofing, odd dates), sent in
# every string field of the writing operations: refused or accepted, never a 5xx.
HOSTILE_STRINGS = [
    "bell \x07 and vertical\x0btab",
    "C1 \x85 next line \x9b",
    "evil\u202egnp.exe",
    "isolate \u2066x\u2069",
    "\u200b\u200b",
    "\u3164",
    "\u2800\u00a0\u2060",
    "0202-06-01T02:00:00Z",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+14:00",
    "2100-12-31T23:59:59-12:00",
]
HOSTILE_BODIES = [
    ("/incidents", "POST", {"title": "T", "message": "."}),
    ("/incidents/{incidentId}", "PATCH", {"title": "T", "message": "."}),
    ("/incidents/{incidentId}/updates/{updateId}", "PATCH", {"message": "."}),
    ("/monitors", "POST", {"name": "N"}),
    ("/monitors/{monitorId}", "PATCH", {"name": "N"}),
    (
        "/incidents",
        "POST",
        {
            "title": "W",
            "message": ".",
            "maintenance": True,
            "scheduledStart": "2030-01-01T00:00:00Z",
            "scheduledEnd": "2030-01-02T00:00:00Z",
        },
    ),
]


def test_hostile_strings_never_answer_5xx(api_schema, resources, raw_key):
    statuses = Counter()
    for path, method, base in HOSTILE_BODIES:
        operation = api_schema[path][method]
        ids = {}
        if "{updateId}" in path:
            ids["incidentId"], ids["updateId"] = resources["updateId"][0]
        elif "{incidentId}" in path:
            ids["incidentId"] = resources["incidentId"][0]
        elif "{monitorId}" in path:
            ids["monitorId"] = resources["monitorId"][0]
        for field in base:
            if isinstance(base[field], bool):
                continue
            for text in HOSTILE_STRINGS:
                case = operation.Case(
                    path_parameters=ids,
                    body={**base, field: text},
                    headers={"x-api-key": raw_key, "Accept-Encoding": IDENTITY},
                    media_type="application/json",
                )
                response = case.call_and_validate(checks=CHECKS[:-1])
                statuses[response.status_code] += 1
                assert response.status_code < 500
    print(f"\nhostile strings: {dict(statuses)}")
    assert statuses[400] > statuses.total() // 2  # most refused as validation errors
