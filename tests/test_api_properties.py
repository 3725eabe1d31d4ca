"""Property-based tests (hypothesis) for the API's validation layer: the JSON
parser, the body specs and the timestamp parser never fail in an unforeseen
way, timestamps round-trip, naive ones are refused, and a refused body
changes nothing."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import transaction
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from incidents.api.decorators import ApiError, parse_json
from incidents.api.validation import (
    INCIDENT_CHANGE,
    MONITOR_CHANGE,
    NEW_INCIDENT,
    NEW_MONITOR,
    FieldError,
    parse_timestamp,
)
from incidents.models import AuditRecord, Incident, IncidentUpdate, Monitor, isostring

SPECS = {
    "NEW_INCIDENT": NEW_INCIDENT,
    "INCIDENT_CHANGE": INCIDENT_CHANGE,
    "NEW_MONITOR": NEW_MONITOR,
    "MONITOR_CHANGE": MONITOR_CHANGE,
}
FIELD_NAMES = sorted({name for spec in SPECS.values() for name in spec.fields})

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Values that look like what a field wants, so the checks beyond the type run.
plausible = (
    json_values
    | st.sampled_from(
        [*Incident.STATUSES, *Monitor.STATUSES, "mon_abc123", "https://example.com/", ""]
    )
    | st.lists(st.sampled_from(["mon_abc123", "mon_def456", "mon_x"]), max_size=4)
    | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
    | st.datetimes().map(lambda d: d.isoformat())
)
bodies = st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=10), plausible, max_size=7)

offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
aware = st.datetimes(
    min_value=datetime(1000, 1, 2), max_value=datetime(9998, 12, 30), timezones=offsets
)


@settings(max_examples=300, deadline=None)
@given(spec=st.sampled_from(sorted(SPECS)), body=bodies | json_values)
def test_a_spec_checks_any_json_without_failing(spec, body):
    try:
        cleaned = SPECS[spec].clean(body)
    except ApiError as exc:
        assert exc.status == 400
        assert exc.code == "validation_error"
        json.dumps(exc.fields)  # always serialisable
    else:
        assert isinstance(body, dict)
        assert set(cleaned) <= set(SPECS[spec].fields)
        assert set(cleaned) == set(body)  # nothing unknown got through


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_the_json_parser_refuses_cleanly_or_parses(body):
    try:
        value = parse_json(body)
    except ApiError as exc:
        assert (exc.status, exc.code) == (400, "invalid_json")
    else:
        assert json.loads(body.decode("utf-8")) == value


@settings(max_examples=500, deadline=None)
@given(
    moment=aware, separator=st.sampled_from(["T", "t"]), fraction=st.booleans(), zulu=st.booleans()
)
def test_timestamps_round_trip_to_the_same_instant_in_utc(moment, separator, fraction, zulu):
    minutes = int(moment.utcoffset().total_seconds()) // 60
    if zulu and minutes == 0:
        zone = "Z"
    else:
        zone = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    text = moment.strftime(f"%Y-%m-%d{separator}%H:%M:%S")
    text += (f".{moment.microsecond:06d}" if fraction else "") + zone
    parsed = parse_timestamp(text)
    assert parsed.tzinfo is UTC
    assert parsed == moment.replace(microsecond=0)
    # What the API writes back reads as the same instant.
    assert parse_timestamp(isostring(parsed)) == parsed


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_a_timestamp_without_a_timezone_is_refused(moment):
    for text in (moment.strftime("%Y-%m-%dT%H:%M:%S"), moment.isoformat()):
        with pytest.raises(FieldError, match="must include a timezone|RFC 3339"):
            parse_timestamp(text)


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=40) | st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T.{8,20}\Z"))
def test_the_timestamp_parser_never_fails_otherwise(text):
    try:
        parsed = parse_timestamp(text)
    except FieldError:
        return
    assert parsed.tzinfo is UTC and parsed.microsecond == 0


# --- Through the API: a refused body changes nothing ---------------------------


def state():
    return (
        Incident.objects.count(),
        IncidentUpdate.objects.count(),
        Monitor.objects.count(),
        AuditRecord.objects.count(),
    )


@pytest.mark.django_db
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    target=st.sampled_from(["POST incidents", "PATCH incident", "POST monitors", "PATCH monitor"]),
    body=bodies | json_values,
)
def test_any_json_body_gets_a_json_answer_and_a_refusal_changes_nothing(
    client, raw_key, make_monitor, make_incident, target, body
):
    # Each example starts from the same rows: Hypothesis replays and shrinks
    # examples, and an accepted PATCH must not change what the next one sees.
    with transaction.atomic():
        if not Monitor.objects.filter(pk="mon_abc123").exists():
            make_monitor(id="mon_abc123")
            make_monitor(id="mon_def456")
            make_incident(title="Target", monitor_ids=["mon_abc123"])
        incident = Incident.objects.filter(title="Target").first()
        assume(incident is not None)
        method, collection = target.split()
        path = {
            "incidents": "/api/incidents",
            "incident": f"/api/incidents/{incident.id}",
            "monitors": "/api/monitors",
            "monitor": "/api/monitors/mon_def456",
        }[collection]
        before = state()
        response = client.generic(
            method,
            path,
            json.dumps(body),
            content_type="application/json",
            headers={"x-api-key": raw_key},
        )
        assert response.headers["Content-Type"] == "application/json"
        payload = json.loads(response.content)
        if response.status_code >= 400:
            assert response.status_code in (400, 409), payload
            assert payload["error"]["code"] in ("validation_error", "conflict")
            assert state() == before
        else:
            assert response.status_code in (200, 201)
            assert state() != before or method == "PATCH"
        transaction.set_rollback(True)
