"""Each contract rule and its message are declared once, in the domain
(incidents/models/fields.py and the field tables beside the models): the API,
the domain's own callers and the OpenAPI document say the same thing."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from incidents.api.openapi import build_document
from incidents.models import INCIDENT, MONITOR, TIMELINE_ENTRY, Incident, Monitor, api_name
from incidents.subscribers.models import SUBSCRIBER

START = datetime(2025, 6, 1, 2, tzinfo=UTC)
END = datetime(2025, 6, 1, 4, tzinfo=UTC)


def api_fields(response):
    assert response.status_code == 400, response.content
    return response.json()["error"]["fields"]


def domain_fields(call):
    with pytest.raises(ValidationError) as raised:
        call()
    return {
        api_name(name): " ".join(messages) for name, messages in raised.value.message_dict.items()
    }


@pytest.mark.django_db
class TestOneMessagePerRule:
    def test_a_window_without_an_end(self, api):
        body = {"title": "Upgrade", "message": "Planned.", "maintenance": True}
        said_by_api = api_fields(
            api("POST", "/api/incidents", {**body, "scheduledStart": START.isoformat()})
        )
        said_by_domain = domain_fields(
            lambda: Incident.open_incident(
                title="Upgrade", message="Planned.", scheduled_start=START
            )
        )
        assert (
            said_by_api
            == said_by_domain
            == {"scheduledEnd": "is required for a maintenance window"}
        )

    def test_a_window_that_ends_before_it_starts(self, api):
        body = {"title": "Upgrade", "message": "Planned.", "maintenance": True}
        schedule = {"scheduledStart": END.isoformat(), "scheduledEnd": START.isoformat()}
        said_by_api = api_fields(api("POST", "/api/incidents", {**body, **schedule}))
        window = Incident.open_incident(
            title="Upgrade", message="Planned.", scheduled_start=START, scheduled_end=END
        )
        said_by_domain = domain_fields(
            lambda: window.change(scheduled_start=END, scheduled_end=START)
        )
        assert said_by_api == said_by_domain == {"scheduledEnd": "must be after scheduledStart"}

    def test_a_title_too_long(self, api):
        said_by_api = api_fields(
            api("POST", "/api/incidents", {"title": "x" * 201, "message": "m"})
        )
        said_by_domain = domain_fields(lambda: Incident.open_incident(title="x" * 201, message="m"))
        assert said_by_api == said_by_domain == {"title": "must be at most 200 characters"}

    def test_a_blank_monitor_name(self, api):
        said_by_api = api_fields(api("POST", "/api/monitors", {"name": " "}))
        said_by_domain = domain_fields(lambda: Monitor.create_monitor(name=" "))
        assert said_by_api == said_by_domain == {"name": "must not be empty"}


@pytest.mark.parametrize(
    ("schema", "resource", "creating"),
    [
        ("NewIncident", INCIDENT, True),
        ("IncidentChange", INCIDENT, False),
        ("NewMonitor", MONITOR, True),
        ("MonitorChange", MONITOR, False),
        ("UpdateChange", TIMELINE_ENTRY, False),
        ("NewSubscriber", SUBSCRIBER, True),
    ],
)
def test_the_openapi_request_schemas_are_the_declared_fields(schema, resource, creating):
    document = build_document()["components"]["schemas"][schema]
    body = resource.body(creating=creating)
    assert list(document["properties"]) == list(body)
    assert document.get("required", []) == [name for name, field in body.items() if field.required]
    for name, field in body.items():
        assert document["properties"][name].get("maxLength") == field.max_length, name
        if field.choices:
            assert document["properties"][name]["enum"][: len(field.choices)] == list(field.choices)


def test_a_window_schema_requires_what_the_window_rule_requires():
    document = build_document()["components"]["schemas"]["NewIncident"]
    conditional = [name for name, field in INCIDENT.fields.items() if field.required_with]
    assert document["then"]["required"] == conditional == ["scheduledStart", "scheduledEnd"]


def test_every_domain_field_has_one_contract_name():
    for resource in (INCIDENT, MONITOR, TIMELINE_ENTRY, SUBSCRIBER):
        for name, field in resource.fields.items():
            assert api_name(field.attribute) == name
    assert api_name("monitor_ids") == "monitorIds"
    assert api_name("webhook_url") == "webhookUrl"
