"""Operators work in the admin; it writes through the same rules as the API."""

from datetime import UTC, datetime

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from incidents.models import (
    ApiKey,
    AuditRecord,
    Incident,
    IncidentUpdate,
    Monitor,
    MonitorStatusChange,
)
from tests.admin_forms import add_incident, change_incident, page_form, submit


@pytest.fixture
def operator(admin_client):
    return admin_client


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

    @pytest.mark.parametrize("given", ["scheduled_start", "scheduled_end"])
    def test_a_window_needs_both_ends_in_the_apis_words(self, operator, given):
        response = add_incident(
            operator,
            title="Upgrade",
            message="Planned.",
            **{f"{given}_0": "2025-06-01", f"{given}_1": "04:00:00"},
        )
        assert response.status_code == 200
        missing = "scheduled_end" if given == "scheduled_start" else "scheduled_start"
        errors = response.context["adminform"].form.errors
        assert errors == {missing: ["is required for a maintenance window"]}
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


class TestTimeline:
    def entry_field(self, page, incident, sequence, name):
        """The form field name of one timeline row, as the page renders it."""
        data = page_form(page, "incident_form")
        entry = incident.updates.get(sequence=sequence)
        (prefix,) = [
            k[: -len("-id")] for k, v in data.items() if k.endswith("-id") and v == [entry.pk]
        ]
        return f"{prefix}-{name}"

    def test_every_row_carries_its_id(self, operator, make_incident):
        incident = make_incident()
        incident.post_update("identified", "Found it.")
        url = reverse("admin:incidents_incident_change", args=[quote(incident.pk)])
        data = page_form(operator.get(url), "incident_form")
        ids = sorted(
            v[0] for k, v in data.items() if k.startswith("updates-") and k.endswith("-id")
        )
        assert ids == sorted(incident.updates.values_list("pk", flat=True))

    def test_fixing_a_message(self, operator, make_incident):
        incident = make_incident(message="We are investigatng.")
        url = reverse("admin:incidents_incident_change", args=[quote(incident.pk)])
        field = self.entry_field(operator.get(url), incident, 1, "message")
        response = change_incident(operator, incident, **{field: "We are investigating."})
        assert response.status_code == 302
        incident.refresh_from_db()
        assert [(u.status, u.message) for u in incident.timeline()] == [
            ("investigating", "We are investigating.")
        ]
        record = AuditRecord.objects.filter(object_id=incident.pk).first()
        assert record.changes["oldMessage"] == "We are investigatng."

    def test_deleting_the_latest_entry_moves_the_status_back(self, operator, make_incident):
        incident = make_incident()
        incident.resolve("Fixed.")
        url = reverse("admin:incidents_incident_change", args=[quote(incident.pk)])
        field = self.entry_field(operator.get(url), incident, 2, "DELETE")
        assert change_incident(operator, incident, **{field: "on"}).status_code == 302
        incident.refresh_from_db()
        assert (incident.status, incident.resolved_at) == ("investigating", None)
        assert incident.updates.count() == 1

    def test_the_only_entry_cannot_be_deleted(self, operator, make_incident):
        incident = make_incident()
        url = reverse("admin:incidents_incident_change", args=[quote(incident.pk)])
        field = self.entry_field(operator.get(url), incident, 1, "DELETE")
        response = change_incident(operator, incident, **{field: "on"})
        assert response.status_code == 200
        assert IncidentUpdate.ONLY_ENTRY in response.content.decode()
        assert incident.updates.count() == 1

    def test_the_add_form_has_no_empty_timeline(self, operator):
        page = operator.get(reverse("admin:incidents_incident_add")).content.decode()
        assert "timeline (newest first)" not in page.lower()


class TestTimeZone:
    def test_a_window_is_typed_and_shown_in_the_pages_zone(self, operator, settings):
        settings.KAMUSTATUS_TIME_ZONE = "Europe/Berlin"
        response = add_incident(
            operator,
            title="Upgrade",
            message="Planned.",
            scheduled_start_0="2030-07-01",
            scheduled_start_1="03:00:00",
            scheduled_end_0="2030-07-01",
            scheduled_end_1="05:00:00",
        )
        assert response.status_code == 302
        window = Incident.objects.get()
        assert window.to_dict()["scheduledStart"] == "2030-07-01T01:00:00Z"
        url = reverse("admin:incidents_incident_change", args=[quote(window.pk)])
        page = operator.get(url)
        data = page_form(page, "incident_form")
        assert (data["scheduled_start_0"], data["scheduled_start_1"]) == (
            ["2030-07-01"],
            ["03:00:00"],
        )
        html = page.content.decode()
        assert "Scheduled start (Europe/Berlin)" in html
        assert "In Europe/Berlin time; stored in UTC." in html
        assert "2030-07-01T01:00:00Z – 2030-07-01T03:00:00Z" in html
        listing = operator.get(reverse("admin:incidents_incident_changelist")).content.decode()
        assert "Started (Europe/Berlin)" in listing

    def test_a_time_that_does_not_exist_there_is_refused(self, operator, settings):
        settings.KAMUSTATUS_TIME_ZONE = "Europe/Berlin"
        response = add_incident(
            operator,
            title="Upgrade",
            message="Planned.",
            scheduled_start_0="2030-03-31",
            scheduled_start_1="02:30:00",  # the clocks jump from 02:00 to 03:00
            scheduled_end_0="2030-03-31",
            scheduled_end_1="05:00:00",
        )
        assert response.status_code == 200
        assert "Europe/Berlin" in response.content.decode()
        assert not Incident.objects.exists()


def test_the_admin_is_named_after_the_page_and_links_to_it(operator, settings):
    settings.KAMUSTATUS_PAGE_NAME = "Acme Status"
    page = operator.get(reverse("admin:index")).content.decode()
    assert '<a href="/admin/">Acme Status</a>' in page
    assert '<a class="status-page-link" href="/">View the status page</a>' in page
    assert "<title>Operations | Acme Status admin</title>" in page
    assert "Django administration" not in page
    assert "Task results" not in page and "django_tasks_db" not in page


class TestMonitors:
    def test_a_status_change_in_the_admin_is_a_transition(self, operator, make_monitor):
        monitor = make_monitor(name="API")
        url = reverse("admin:incidents_monitor_change", args=[quote(monitor.pk)])
        assert submit(operator, url, "monitor_form", status="down").status_code == 302
        assert Monitor.objects.get(pk=monitor.pk).status == "down"
        assert MonitorStatusChange.objects.get().to_status == "down"

    def test_delete_is_refused_while_an_open_incident_uses_it(
        self, operator, make_monitor, make_incident
    ):
        monitor = make_monitor()
        make_incident(monitor_ids=[monitor.pk])
        url = reverse("admin:incidents_monitor_delete", args=[quote(monitor.pk)])
        for response in (
            operator.get(url, follow=True),
            operator.post(url, {"post": "yes"}, follow=True),
        ):
            assert response.redirect_chain[-1][0] == reverse(
                "admin:incidents_monitor_change", args=[quote(monitor.pk)]
            )
            assert monitor.why_not_deletable() in response.content.decode()
        assert Monitor.objects.filter(pk=monitor.pk).exists()

    def test_the_list_action_refuses_a_monitor_in_use_and_says_why(
        self, operator, make_monitor, make_incident
    ):
        used, free = make_monitor(), make_monitor()
        make_incident(monitor_ids=[used.pk])
        url = reverse("admin:incidents_monitor_changelist")
        selected = {"action": "delete_selected", "_selected_action": [used.pk, free.pk]}
        confirmation = operator.post(url, selected).content.decode()
        assert used.why_not_deletable() in confirmation
        response = operator.post(url, {**selected, "post": "yes"})
        assert used.why_not_deletable() in response.content.decode()
        assert Monitor.objects.filter(pk__in=[used.pk, free.pk]).count() == 2

    def test_a_second_status_change_saves_with_the_history_shown(self, operator, make_monitor):
        monitor = make_monitor(name="API")
        url = reverse("admin:incidents_monitor_change", args=[quote(monitor.pk)])
        assert submit(operator, url, "monitor_form", status="down").status_code == 302
        assert submit(operator, url, "monitor_form", status="operational").status_code == 302
        assert list(MonitorStatusChange.objects.values_list("to_status", flat=True)) == [
            "operational",
            "down",
        ]

    def test_a_monitor_no_incident_needs_is_deleted(self, operator, make_monitor):
        monitor = make_monitor()
        url = reverse("admin:incidents_monitor_delete", args=[quote(monitor.pk)])
        assert operator.post(url, {"post": "yes"}).status_code == 302
        assert not Monitor.objects.filter(pk=monitor.pk).exists()

    def test_the_pages_say_when_no_alert_channel_is_configured(
        self, operator, make_monitor, settings
    ):
        settings.ALERT_EMAILS, settings.ALERT_WEBHOOK_URL = [], ""
        monitor = make_monitor()
        for url in (
            reverse("admin:incidents_monitor_changelist"),
            reverse("admin:incidents_monitor_change", args=[quote(monitor.pk)]),
            reverse("admin:alerts_alert_changelist"),
        ):
            assert "No alert channel is configured" in operator.get(url).content.decode()
        settings.ALERT_EMAILS = ["ops@example.com"]
        page = operator.get(reverse("admin:incidents_monitor_changelist")).content.decode()
        assert "No alert channel is configured" not in page


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


def test_stored_times_are_shown_in_the_pages_zone(operator, settings):
    settings.KAMUSTATUS_TIME_ZONE = "Asia/Kolkata"  # UTC+05:30
    incident = Incident.open_incident(
        title="Slow", message="Looking.", at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    url = reverse("admin:incidents_incident_change", args=[quote(incident.pk)])
    page = operator.get(url).content.decode()
    assert "Started (Asia/Kolkata)" in page and "Posted (Asia/Kolkata)" in page
    assert page.count("2030-01-02 08:34:05") == 2  # the record and the timeline entry
    assert "03:04:05" not in page
    listing = operator.get(reverse("admin:incidents_incident_changelist")).content.decode()
    assert "2030-01-02 08:34:05" in listing
