"""Hostile and odd input: refused at the door with one rule and one message
each (API and admin alike), and never able to break a feed once stored."""

import json
from datetime import UTC, datetime

import feedparser
import pytest

from incidents import input_rules
from incidents.models import Incident, IncidentUpdate

HOSTILE_TITLES = {
    "a bell \x07 in it": input_rules.CONTROL_REFUSAL,
    "vertical\x0btab": input_rules.CONTROL_REFUSAL,
    "two\nlines": input_rules.CONTROL_REFUSAL,
    "C1 \x85 next line": input_rules.CONTROL_REFUSAL,
    "evil\u202egnp.exe": input_rules.BIDI_REFUSAL,
    "isolate \u2066x\u2069": input_rules.BIDI_REFUSAL,
    "\u200b\u200b": input_rules.INVISIBLE_REFUSAL,
    "\u3164": input_rules.INVISIBLE_REFUSAL,
    "\u2800\u00a0\u2060": input_rules.INVISIBLE_REFUSAL,
}
HOSTILE_MESSAGES = {
    "form feed \x0c here": input_rules.MESSAGE_CONTROL_REFUSAL,
    "NUL-free but \x1b[31m coloured": input_rules.MESSAGE_CONTROL_REFUSAL,
    "C1 \x9b csi": input_rules.MESSAGE_CONTROL_REFUSAL,
    "right-to-left \u202b override": input_rules.BIDI_REFUSAL,
}


def error_of(response):
    assert response.status_code == 400, response.content
    body = json.loads(response.content)
    assert body["error"]["code"] == "validation_error"
    return body["error"]["fields"]


@pytest.mark.django_db
@pytest.mark.parametrize(("title", "reason"), HOSTILE_TITLES.items())
def test_hostile_titles_are_refused(api, title, reason):
    fields = error_of(api("POST", "/api/incidents", {"title": title, "message": "."}))
    assert fields == {"title": reason}
    assert not Incident.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("message", "reason"), HOSTILE_MESSAGES.items())
def test_hostile_messages_are_refused(api, message, reason):
    fields = error_of(api("POST", "/api/incidents", {"title": "Fine", "message": message}))
    assert fields == {"message": reason}
    created = json.loads(api("POST", "/api/incidents", {"title": "Ok", "message": "."}).content)
    path = f"/api/incidents/{created['id']}"
    assert error_of(api("PATCH", path, {"message": message})) == {"message": reason}
    update = created["updates"][0]["id"]
    assert error_of(api("PATCH", f"{path}/updates/{update}", {"message": message})) == {
        "message": reason
    }
    assert IncidentUpdate.objects.count() == 1


@pytest.mark.django_db
def test_tabs_and_newlines_in_messages_and_foreign_scripts_are_text(api):
    answer = api(
        "POST",
        "/api/incidents",
        {"title": "Störung — 障害 — עברית", "message": "line one\n\tindented\r\nthree"},
    )
    assert answer.status_code == 201, answer.content


@pytest.mark.django_db
def test_hostile_monitor_names_are_refused(api):
    fields = error_of(api("POST", "/api/monitors", {"name": "API\u202e"}))
    assert fields == {"name": input_rules.BIDI_REFUSAL}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "end", "field", "reason"),
    [
        ("0202-06-01T02:00:00Z", "2026-06-01T04:00:00Z", "scheduledStart", "TIMESTAMP"),
        ("1999-12-31T23:59:59Z", "2026-06-01T04:00:00Z", "scheduledStart", "TIMESTAMP"),
        ("2026-06-01T02:00:00Z", "9999-12-31T23:59:59Z", "scheduledEnd", "TIMESTAMP"),
        ("2026-06-01T02:00:00Z", "2101-01-01T00:00:00Z", "scheduledEnd", "TIMESTAMP"),
        ("2026-01-01T00:00:00Z", "2027-01-02T00:00:01Z", "scheduledEnd", "WINDOW"),
    ],
)
def test_timestamps_outside_the_accepted_range_are_refused(api, start, end, field, reason):
    body = {"title": "Upgrade", "message": ".", "maintenance": True}
    body.update(scheduledStart=start, scheduledEnd=end)
    fields = error_of(api("POST", "/api/incidents", body))
    expected = {"TIMESTAMP": input_rules.TIMESTAMP_REFUSAL, "WINDOW": input_rules.WINDOW_REFUSAL}
    assert fields == {field: expected[reason]}


@pytest.mark.django_db
def test_the_edges_of_the_range_are_accepted(api):
    body = {
        "title": "Edge",
        "message": ".",
        "maintenance": True,
        "scheduledStart": "2100-01-01T00:00:00Z",
        "scheduledEnd": "2100-12-31T23:59:59Z",
    }
    answer = api("POST", "/api/incidents", body)
    assert answer.status_code == 201, answer.content
    assert json.loads(answer.content)["scheduledEnd"] == "2100-12-31T23:59:59Z"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/feed.rss", "/feed.atom"])
def test_feeds_survive_control_characters_already_stored(client, make_incident, path):
    incident = make_incident(title="Fine", message="Fine.")
    # Rows written before the rule (or by hand) bypass validation.
    Incident.objects.filter(pk=incident.pk).update(title="Broken\x0b title\x01 \x85here")
    IncidentUpdate.objects.filter(incident=incident).update(message="Bad \x0c message \x1b text")
    answer = client.get(path)
    assert answer.status_code == 200
    parsed = feedparser.parse(answer.content)
    assert not parsed.bozo, parsed.bozo_exception
    [entry] = parsed.entries
    assert "Broken title here" in entry.title
    assert "Bad  message  text" in (entry.get("summary") or entry.get("content")[0]["value"])


def test_every_api_timestamp_has_four_digit_years():
    from incidents.models import isostring

    assert isostring(datetime(2000, 1, 1, tzinfo=UTC)) == "2000-01-01T00:00:00Z"
    assert isostring(datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00Z"
