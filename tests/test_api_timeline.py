"""Fixing the timeline through the API: PATCH an entry's message (a typo),
DELETE an entry; the incident's status and resolvedAt follow its new latest
entry, and the audit trail keeps what was there before."""

import pytest

from incidents.models import AuditRecord, Conflict, Incident, IncidentUpdate

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


def entry_url(incident_id, update_id):
    return f"/api/incidents/{incident_id}/updates/{update_id}"


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()["error"]
    assert body["code"] == code and body["message"]
    return body


@pytest.fixture
def incident(api):
    created = api(
        "POST", "/api/incidents", {"title": "API errors", "message": "We are investigatng."}
    ).json()
    api("PATCH", f"/api/incidents/{created['id']}", {"status": "identified", "message": "Found."})
    return api("GET", f"/api/incidents/{created['id']}").json()


class TestFixingAMessage:
    def test_it_replaces_the_text_and_adds_no_entry(self, api, incident):
        first = incident["updates"][0]
        response = api(
            "PATCH", entry_url(incident["id"], first["id"]), {"message": "We are investigating."}
        )
        assert response.status_code == 200
        body = response.json()
        assert body == {
            **incident,
            "updates": [{**first, "message": "We are investigating."}, incident["updates"][1]],
        }
        assert api("GET", f"/api/incidents/{incident['id']}").json() == body

    def test_the_old_text_is_kept_in_the_audit_trail(self, api, incident, api_key):
        first = incident["updates"][0]
        api("PATCH", entry_url(incident["id"], first["id"]), {"message": "Fixed."})
        record = AuditRecord.objects.filter(object_id=incident["id"]).first()
        assert record.action == "updated"
        assert record.api_key == api_key[0]
        assert record.changes == {
            "updateId": first["id"],
            "message": "Fixed.",
            "oldMessage": "We are investigatng.",
        }

    def test_an_empty_message_is_allowed(self, api, incident):
        latest = incident["updates"][1]
        response = api("PATCH", entry_url(incident["id"], latest["id"]), {"message": ""})
        assert response.status_code == 200
        assert response.json()["updates"][1]["message"] == ""

    @pytest.mark.parametrize(
        ("body", "field", "says"),
        [
            ({}, "message", "is required"),
            ({"message": 3}, "message", "must be a string"),
            ({"message": None}, "message", "must not be null"),
            ({"message": "ok", "status": "resolved"}, "status", "read-only"),
            ({"message": "ok", "colour": "red"}, "colour", "unknown field"),
            ({"message": "nul\u0000"}, "message", "NUL"),
        ],
    )
    def test_it_refuses_bad_bodies_and_changes_nothing(self, api, incident, body, field, says):
        url = entry_url(incident["id"], incident["updates"][0]["id"])
        error = assert_error(api("PATCH", url, body), 400, "validation_error")
        assert says in error["fields"][field]
        assert api("GET", f"/api/incidents/{incident['id']}").json() == incident

    def test_body_errors(self, api, incident):
        url = entry_url(incident["id"], incident["updates"][0]["id"])
        assert_error(api("PATCH", url, '{"message": '), 400, "invalid_json")
        assert_error(api("PATCH", url, "x" * 70_000), 413, "payload_too_large")
        assert_error(
            api("PATCH", url, "{}", content_type="text/plain"), 415, "unsupported_media_type"
        )
        assert_error(api("PATCH", url, {"message": "x"}, key=None), 401, "unauthorized")
        assert_error(api("PATCH", url, {"message": "x"}, key="km_wrong"), 401, "unauthorized")
        assert api("GET", f"/api/incidents/{incident['id']}").json() == incident


class TestDeletingAnEntry:
    def test_the_status_follows_the_new_latest_entry(self, api, incident):
        latest = incident["updates"][1]
        response = api("DELETE", entry_url(incident["id"], latest["id"]))
        assert response.status_code == 204 and response.content == b""
        body = api("GET", f"/api/incidents/{incident['id']}").json()
        assert body["status"] == "investigating"
        assert body["updates"] == incident["updates"][:1]

    def test_deleting_the_resolution_reopens_and_clears_resolved_at(self, api, incident):
        url = f"/api/incidents/{incident['id']}"
        resolved = api("PATCH", url, {"status": "resolved", "message": "Fixed."}).json()
        assert resolved["resolvedAt"] is not None
        api("DELETE", entry_url(incident["id"], resolved["updates"][-1]["id"]))
        body = api("GET", url).json()
        assert (body["status"], body["resolvedAt"]) == ("identified", None)

    def test_deleting_a_reopening_restores_the_first_resolution(self, api, incident):
        url = f"/api/incidents/{incident['id']}"
        resolved = api("PATCH", url, {"status": "resolved", "message": "Fixed."}).json()
        reopened = api("PATCH", url, {"status": "investigating", "message": "Back."}).json()
        assert reopened["resolvedAt"] is None
        api("DELETE", entry_url(incident["id"], reopened["updates"][-1]["id"]))
        body = api("GET", url).json()
        assert body["status"] == "resolved"
        assert body["resolvedAt"] == resolved["resolvedAt"] == resolved["updates"][-1]["createdAt"]

    def test_deleting_the_first_of_two_resolutions_keeps_the_incident_resolved(self, api, incident):
        url = f"/api/incidents/{incident['id']}"
        first = api("PATCH", url, {"status": "resolved", "message": "Fixed."}).json()
        second = api("PATCH", url, {"message": "A note on the fix."}).json()
        assert second["status"] == "resolved"
        api("DELETE", entry_url(incident["id"], first["updates"][-1]["id"]))
        body = api("GET", url).json()
        assert body["status"] == "resolved"
        assert body["resolvedAt"] == second["updates"][-1]["createdAt"]

    def test_an_entry_in_the_middle_leaves_the_status_alone(self, api, incident):
        url = f"/api/incidents/{incident['id']}"
        api("PATCH", url, {"status": "monitoring", "message": "Watching."})
        api("DELETE", entry_url(incident["id"], incident["updates"][1]["id"]))
        body = api("GET", url).json()
        assert body["status"] == "monitoring"
        assert [u["status"] for u in body["updates"]] == ["investigating", "monitoring"]

    def test_the_only_entry_is_refused_with_409(self, api):
        created = api("POST", "/api/incidents", {"title": "One", "message": "Only."}).json()
        url = entry_url(created["id"], created["updates"][0]["id"])
        error = assert_error(api("DELETE", url), 409, "conflict")
        assert error["message"] == IncidentUpdate.ONLY_ENTRY
        assert api("GET", f"/api/incidents/{created['id']}").json() == created

    def test_the_entry_is_kept_in_the_audit_trail(self, api, incident):
        latest = incident["updates"][1]
        api("DELETE", entry_url(incident["id"], latest["id"]))
        record = AuditRecord.objects.filter(object_id=incident["id"]).first()
        assert record.action == "updated"
        assert record.changes == {
            "deletedUpdate": latest,
            "status": "investigating",
            "resolvedAt": None,
        }

    def test_it_needs_a_key(self, api, incident):
        url = entry_url(incident["id"], incident["updates"][1]["id"])
        assert_error(api("DELETE", url, key=None), 401, "unauthorized")
        assert_error(api("DELETE", url, key="km_wrong"), 401, "unauthorized")
        assert api("GET", f"/api/incidents/{incident['id']}").json() == incident


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
class TestMissing:
    def test_an_unknown_incident_is_404(self, api, incident, method):
        url = entry_url("inc_nope", incident["updates"][0]["id"])
        assert_error(api(method, url, {"message": "x"}), 404, "not_found")

    def test_an_unknown_entry_is_404(self, api, incident, method):
        assert_error(
            api(method, entry_url(incident["id"], "upd_nope"), {"message": "x"}), 404, "not_found"
        )

    @pytest.mark.parametrize("update_id", ["upd_%00", "a" * 41, "upd-1", "%F0%9F%92%A5"])
    def test_odd_entry_ids_are_404(self, api, incident, method, update_id):
        assert_error(
            api(method, entry_url(incident["id"], update_id), {"message": "x"}), 404, "not_found"
        )

    def test_another_incidents_entry_is_404(self, api, incident, method):
        other = api("POST", "/api/incidents", {"title": "Other", "message": "Hi."}).json()
        url = entry_url(other["id"], incident["updates"][1]["id"])
        assert_error(api(method, url, {"message": "x"}), 404, "not_found")
        assert api("GET", f"/api/incidents/{incident['id']}").json() == incident

    def test_other_methods_are_405_with_allow(self, api, incident, method):
        url = entry_url(incident["id"], incident["updates"][0]["id"])
        for other in ("GET", "POST", "PUT"):
            response = api(other, url, {"message": "x"})
            assert_error(response, 405, "method_not_allowed")
            assert response["Allow"] == "PATCH, DELETE"


def test_the_rule_is_the_models(make_incident):
    """The admin uses the same methods: one rule."""
    incident = make_incident()
    only = incident.timeline()[0]
    with pytest.raises(Conflict, match="only timeline entry"):
        incident.delete_update(only.id)
    assert Incident.objects.get(pk=incident.pk).updates.count() == 1
