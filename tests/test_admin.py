"""Operators work in the admin; it writes through the same rules as the API."""

from datetime import UTC, datetime

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from incidents.models import ApiKey, AuditRecord, Incident, Monitor, MonitorStatusChange


@pytest.fixture
def operator(admin_client):
    return admin_client


def formset_data(response):
    """The management and hidden fields of every inline on an admin form page."""
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, field in formset.management_form.fields.items():
            value = formset.management_form[name].value()
            data[f"{formset.prefix}-{name}"] = "" if value is None else value
        for form in formset.forms:
            for field in form.hidden_fields():
                value = field.value()
                data[field.html_name] = "" if value is None else value
    return data


def change_incident(client, incident, **fields):
    url = reverse("admin:incidents_incident_change", args=[quote(incident.pk)])
    page = client.get(url)
    assert page.status_code == 200
    incident.refresh_from_db()
    data = {
        "title": incident.title,
        "status": incident.status,
        "message": "",
        "monitors": incident.monitor_ids,
        **formset_data(page),
    }
    data.update(fields)
    return client.post(url, data)


def add_incident(client, **fields):
    url = reverse("admin:incidents_incident_add")
    page = client.get(url)
    data = {"title": "", "status": "investigating", "message": "", **formset_data(page)}
    data.update(fields)
    return client.post(url, data)


class TestIncidents:
    def test_adding_an_incident_posts_its_first_update(self, operator, make_monitor):
        monitor = make_monitor(id="mon_abc123")
        response = add_incident(
            operator, title="API down", message="Looking into it.", monitors=[monitor.pk]
        )
        assert response.status_code == 302
        incident = Incident.objects.get()
        assert incident.monitor_ids == ["mon_abc123"]
        assert [(u.status, u.message) for u in incident.timeline()] == [
            ("investigating", "Looking into it.")
        ]
        record = AuditRecord.objects.get(object_id=incident.pk)
        assert record.action == "created" and record.actor == "admin admin"

    def test_adding_needs_a_message(self, operator):
        response = add_incident(operator, title="API down", message="")
        assert response.status_code == 200
        assert "This field is required" in response.content.decode()
        assert not Incident.objects.exists()

    def test_editing_the_status_appends_a_timeline_entry(self, operator, make_incident):
        incident = make_incident()
        response = change_incident(
            operator, incident, status="identified", message="Root cause found."
        )
        assert response.status_code == 302
        incident.refresh_from_db()
        assert incident.status == "identified"
        assert [(u.status, u.message) for u in incident.timeline()] == [
            ("investigating", "We are investigating."),
            ("identified", "Root cause found."),
        ]

    def test_resolving_in_the_admin_sets_resolved_at(self, operator, make_incident):
        incident = make_incident()
        change_incident(operator, incident, status="resolved")
        incident.refresh_from_db()
        assert incident.resolved_at is not None
        assert incident.updates.count() == 2

    def test_editing_only_the_title_adds_no_entry(self, operator, make_incident):
        incident = make_incident()
        response = change_incident(operator, incident, title="Renamed")
        assert response.status_code == 302
        incident.refresh_from_db()
        assert incident.title == "Renamed"
        assert incident.updates.count() == 1

    def test_a_window_must_end_after_it_starts(self, operator):
        response = add_incident(
            operator,
            title="Upgrade",
            message="Planned.",
            scheduled_start_0="2025-06-01",
            scheduled_start_1="04:00:00",
            scheduled_end_0="2025-06-01",
            scheduled_end_1="02:00:00",
        )
        assert response.status_code == 200
        assert "must be after scheduledStart" in response.content.decode()
        assert not Incident.objects.exists()

    def test_a_window_can_be_scheduled(self, operator):
        add_incident(
            operator,
            title="Upgrade",
            status="monitoring",
            message="Planned.",
            scheduled_start_0="2025-06-01",
            scheduled_start_1="02:00:00",
            scheduled_end_0="2025-06-01",
            scheduled_end_1="04:00:00",
        )
        window = Incident.objects.get()
        assert window.to_dict()["scheduledStart"] == "2025-06-01T02:00:00Z"
        assert window.started_at == datetime(2025, 6, 1, 2, tzinfo=UTC)

    def test_the_resolve_action(self, operator, make_incident):
        first, second = make_incident(), make_incident()
        operator.post(
            reverse("admin:incidents_incident_changelist"),
            {"action": "resolve_selected", "_selected_action": [first.pk, second.pk]},
        )
        assert set(Incident.objects.values_list("status", flat=True)) == {"resolved"}

    def test_deleting_keeps_a_snapshot(self, operator, make_incident):
        incident = make_incident(title="Gone soon")
        response = operator.post(
            reverse("admin:incidents_incident_delete", args=[quote(incident.pk)]), {"post": "yes"}
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        assert list(Incident.objects.values_list("pk", flat=True)) == []
        record = AuditRecord.objects.get(action="deleted")
        assert record.snapshot["title"] == "Gone soon"
        page = operator.get(reverse("admin:incidents_auditrecord_change", args=[record.pk]))
        assert "Gone soon" in page.content.decode()

    def test_ids_that_look_like_admin_escapes_still_open(self, operator):
        # The admin escapes "_" in URLs: "inc_23…" must not be read as "inc#…".
        incident = Incident.objects.create(id="inc_23ab12cd34ef56ab", title="Escaped id")
        incident.post_update("investigating", "Looking into it.")
        changelist = operator.get(reverse("admin:incidents_incident_changelist"))
        link = reverse("admin:incidents_incident_change", args=[quote(incident.pk)])
        assert link in changelist.content.decode()
        assert "Escaped id" in operator.get(link).content.decode()

    def test_the_list_filters_and_searches(self, operator, make_incident):
        make_incident(title="Needle in the API")
        make_incident(title="Haystack")
        url = reverse("admin:incidents_incident_changelist")
        page = operator.get(url, {"q": "needle"}).content.decode()
        assert "Needle in the API" in page and "Haystack" not in page
        page = operator.get(url, {"maintenance": "true"}).content.decode()
        assert "Needle in the API" not in page


class TestMonitors:
    def test_a_status_change_in_the_admin_is_a_transition(self, operator, make_monitor):
        monitor = make_monitor(name="API")
        url = reverse("admin:incidents_monitor_change", args=[quote(monitor.pk)])
        data = {"name": "API", "url": "", "status": "down", **formset_data(operator.get(url))}
        assert operator.post(url, data).status_code == 302
        assert Monitor.objects.get(pk=monitor.pk).status == "down"
        assert MonitorStatusChange.objects.get().to_status == "down"

    def test_delete_is_refused_while_an_open_incident_uses_it(
        self, operator, make_monitor, make_incident
    ):
        monitor = make_monitor()
        make_incident(monitor_ids=[monitor.pk])
        url = reverse("admin:incidents_monitor_delete", args=[quote(monitor.pk)])
        assert operator.post(url, {"post": "yes"}).status_code == 403
        assert Monitor.objects.filter(pk=monitor.pk).exists()


class TestApiKeys:
    def test_creating_a_key_shows_it_once(self, operator):
        response = operator.post(reverse("admin:incidents_apikey_add"), {"name": "deploy"})
        assert response.status_code == 200
        raw = response.context["raw_key"]
        assert raw.startswith("km_") and raw in response.content.decode()
        key = ApiKey.objects.get()
        assert ApiKey.objects.authenticate(raw) == key
        page = operator.get(reverse("admin:incidents_apikey_change", args=[key.pk]))
        assert raw not in page.content.decode()
        assert key.prefix in page.content.decode()

    def test_revoking(self, operator, api_key):
        key, raw = api_key
        operator.post(
            reverse("admin:incidents_apikey_changelist"),
            {"action": "revoke_selected", "_selected_action": [key.pk]},
        )
        assert ApiKey.objects.authenticate(raw) is None


def test_the_audit_trail_is_read_only(operator, make_incident):
    make_incident()
    record = AuditRecord.objects.get()
    url = reverse("admin:incidents_auditrecord_change", args=[record.pk])
    assert operator.post(url, {"action": "deleted"}).status_code == 403
    assert operator.get(reverse("admin:incidents_auditrecord_add")).status_code == 403
