"""/api/groups and the monitors' description, groupId and position (issue 17)."""

import pytest
from django.db import OperationalError

from incidents.groups.models import MonitorGroup
from incidents.models import AuditRecord, Monitor

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

ALLOWED_GROUP_FIELDS = "unknown field; allowed: id, name, position, description"
POSITION = "must be a whole number from 0 to 1000000"
LONG = "must be at most 500 characters"


def error_of(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


def fields_of(response):
    return error_of(response, 400, "validation_error")["fields"]


def create_group(api, **fields):
    response = api("POST", "/api/groups", {"name": "Core", **fields})
    assert response.status_code == 201, response.content
    return response.json()


# --- Groups -------------------------------------------------------------------


def test_it_creates_a_group_with_the_contracts_fields_in_order(api, api_key):
    response = api(
        "POST",
        "/api/groups",
        {"id": "grp_core", "name": "  Core services ", "position": 2, "description": "APIs."},
    )
    assert response.status_code == 201
    assert response["Location"] == "http://testserver/api/groups/grp_core"
    body = response.json()
    assert body == {
        "id": "grp_core",
        "name": "Core services",
        "position": 2,
        "monitorIds": [],
        "description": "APIs.",
    }
    assert list(body) == ["id", "name", "position", "monitorIds", "description"]
    assert api("GET", "/api/groups/grp_core").json() == body
    assert AuditRecord.objects.get(object_id="grp_core").api_key == api_key[0]


def test_a_made_up_id_and_defaults(api):
    body = create_group(api)
    assert body["id"].startswith("grp_") and len(body["id"]) == 20
    assert (body["position"], body["description"]) == (0, None)


def test_monitors_join_a_group_through_their_group_id_and_are_listed_in_page_order(api):
    create_group(api, id="grp_core")
    for monitor_id, position in [("mon_ccc", 2), ("mon_aaa", 1), ("mon_bbb", 1)]:
        response = api(
            "POST",
            "/api/monitors",
            {"id": monitor_id, "name": monitor_id, "groupId": "grp_core", "position": position},
        )
        assert response.status_code == 201, response.content
        assert (response.json()["groupId"], response.json()["position"]) == ("grp_core", position)
    # Ties by creation: mon_aaa was created before mon_bbb.
    assert api("GET", "/api/groups/grp_core").json()["monitorIds"] == [
        "mon_aaa",
        "mon_bbb",
        "mon_ccc",
    ]
    moved = api("PATCH", "/api/monitors/mon_ccc", {"position": 0})
    assert moved.status_code == 200
    assert api("GET", "/api/groups/grp_core").json()["monitorIds"][0] == "mon_ccc"
    out = api("PATCH", "/api/monitors/mon_ccc", {"groupId": None})
    assert out.json()["groupId"] is None
    assert api("GET", "/api/groups/grp_core").json()["monitorIds"] == ["mon_aaa", "mon_bbb"]


def test_the_lists_follow_the_page_order(api):
    create_group(api, id="grp_second", position=2)
    create_group(api, id="grp_first", position=1)
    api("POST", "/api/monitors", {"id": "mon_in2", "name": "In 2", "groupId": "grp_second"})
    api("POST", "/api/monitors", {"id": "mon_in1", "name": "In 1", "groupId": "grp_first"})
    api("POST", "/api/monitors", {"id": "mon_top", "name": "Top", "position": 0})
    api("POST", "/api/monitors", {"id": "mon_last", "name": "Last", "position": 9})
    assert [g["id"] for g in api("GET", "/api/groups").json()] == ["grp_first", "grp_second"]
    # Groups and ungrouped monitors share the top level's positions.
    assert [m["id"] for m in api("GET", "/api/monitors").json()] == [
        "mon_top",
        "mon_in1",
        "mon_in2",
        "mon_last",
    ]


def test_a_group_is_renamed_described_and_moved(api):
    create_group(api, id="grp_core")
    response = api(
        "PATCH", "/api/groups/grp_core", {"name": "Edge", "position": 5, "description": " x "}
    )
    assert response.status_code == 200
    assert response.json() == {
        "id": "grp_core",
        "name": "Edge",
        "position": 5,
        "monitorIds": [],
        "description": "x",
    }
    cleared = api("PATCH", "/api/groups/grp_core", {"description": ""})
    assert cleared.json()["description"] is None


def test_deleting_a_group_keeps_its_monitors(api):
    create_group(api, id="grp_core")
    api("POST", "/api/monitors", {"id": "mon_abc123", "name": "API", "groupId": "grp_core"})
    response = api("DELETE", "/api/groups/grp_core")
    assert response.status_code == 204 and response.content == b""
    error_of(api("GET", "/api/groups/grp_core"), 404, "not_found")
    assert api("GET", "/api/monitors/mon_abc123").json()["groupId"] is None
    record = AuditRecord.objects.get(object_id="grp_core", action=AuditRecord.DELETED)
    assert record.snapshot["monitorIds"] == ["mon_abc123"]


def test_a_taken_group_id_is_a_conflict_and_changes_nothing(api):
    create_group(api, id="grp_core")
    again = api("POST", "/api/groups", {"id": "grp_core", "name": "Again"})
    error = error_of(again, 409, "conflict")
    assert "grp_core" in error["message"]
    assert MonitorGroup.objects.get().name == "Core"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"name": "is required"}),
        ({"name": ""}, {"name": "must not be empty"}),
        ({"name": "x" * 201}, {"name": "must be at most 200 characters"}),
        ({"name": "G", "id": "group_1"}, {"id": "must match ^grp_[a-z0-9]{3,32}$"}),
        ({"name": "G", "position": -1}, {"position": POSITION}),
        ({"name": "G", "position": 1.5}, {"position": POSITION}),
        ({"name": "G", "position": True}, {"position": POSITION}),
        ({"name": "G", "position": "1"}, {"position": POSITION}),
        ({"name": "G", "position": 10**7}, {"position": POSITION}),
        ({"name": "G", "position": None}, {"position": "must not be null"}),
        ({"name": "G", "description": "x" * 501}, {"description": LONG}),
        ({"name": "G", "description": 5}, {"description": "must be a string"}),
        ({"name": "G", "monitorIds": []}, {"monitorIds": "is read-only and cannot be set here"}),
        ({"name": "G", "colour": "red"}, {"colour": ALLOWED_GROUP_FIELDS}),
    ],
)  # fmt: skip
def test_it_refuses_bad_groups_and_writes_nothing(api, body, fields):
    assert fields_of(api("POST", "/api/groups", body)) == fields
    assert not MonitorGroup.objects.exists()


def test_a_patch_refuses_empty_and_read_only_bodies(api):
    create_group(api, id="grp_core")
    error = error_of(api("PATCH", "/api/groups/grp_core", {}), 400, "validation_error")
    assert "name, position, description" in error["message"]
    assert fields_of(api("PATCH", "/api/groups/grp_core", {"id": "grp_other"})) == {
        "id": "is read-only and cannot be set here"
    }


def test_the_other_errors_of_the_contract(api, raw_key):
    create_group(api, id="grp_core")
    error_of(api("POST", "/api/groups", {"name": "G"}, key=None), 401, "unauthorized")
    error_of(api("GET", "/api/groups/grp_nope"), 404, "not_found")
    error_of(api("PATCH", "/api/groups/grp_nope", {"name": "x"}), 404, "not_found")
    error_of(api("DELETE", "/api/groups/grp_nope"), 404, "not_found")
    response = api("PUT", "/api/groups/grp_core", {"name": "x"})
    error_of(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, PATCH, DELETE"
    plain = api("POST", "/api/groups", "{}", content_type="text/plain")
    error_of(plain, 415, "unsupported_media_type")
    error_of(api("POST", "/api/groups", '{"name": '), 400, "invalid_json")
    error_of(api("POST", "/api/groups", '{"name": "a", "name": "b"}'), 400, "invalid_json")
    error_of(api("PATCH", "/api/groups/grp_core", "x" * 70_000), 413, "payload_too_large")
    first = api("POST", "/api/groups", {"name": "Once"}, **{"Idempotency-Key": "k1"})
    again = api("POST", "/api/groups", {"name": "Once"}, **{"Idempotency-Key": "k1"})
    assert (first.status_code, again.content) == (201, first.content)
    other = api("POST", "/api/groups", {"name": "Twice"}, **{"Idempotency-Key": "k1"})
    error_of(other, 422, "idempotency_key_reused")
    assert MonitorGroup.objects.filter(name__in=["Once", "Twice"]).count() == 1
    assert api("GET", "/api/groups/grp_core").json()["name"] == "Core"


def test_wrong_keys_are_rate_limited(api, settings):
    settings.AUTH_FAILURE_LIMIT = 2
    for _ in range(2):
        error_of(api("GET", "/api/groups", key="km_" + "x" * 43), 401, "unauthorized")
    response = api("GET", "/api/groups", key="km_" + "x" * 43)
    error_of(response, 429, "rate_limited")
    assert int(response["Retry-After"]) > 0


def test_an_unreachable_database_is_a_503(api, monkeypatch):
    def unreachable(cls, **fields):
        raise OperationalError("connection refused")

    monkeypatch.setattr(MonitorGroup, "create_group", classmethod(unreachable))
    response = api("POST", "/api/groups", {"name": "G"})
    error_of(response, 503, "unavailable")
    assert response["Retry-After"]


# --- The monitors' new fields --------------------------------------------------


def test_a_monitor_is_described_and_placed(api):
    create_group(api, id="grp_core")
    body = {"name": "API", "description": " Our REST API. ", "groupId": "grp_core", "position": 3}
    created = api("POST", "/api/monitors", {"id": "mon_abc123", **body}).json()
    assert (created["description"], created["groupId"], created["position"]) == (
        "Our REST API.",
        "grp_core",
        3,
    )
    assert list(created)[4:8] == ["url", "description", "groupId", "position"]
    changed = api("PATCH", "/api/monitors/mon_abc123", {"description": None}).json()
    assert changed["description"] is None
    record = AuditRecord.objects.filter(object_id="mon_abc123").first()
    assert record.changes == {"description": None}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"groupId": "grp_nope"}, {"groupId": "unknown group id: grp_nope"}),
        ({"groupId": "mon_abc123"}, {"groupId": "must match ^grp_[a-z0-9]{3,32}$"}),
        ({"groupId": 7}, {"groupId": "must be a string"}),
        ({"position": -3}, {"position": POSITION}),
        ({"position": 2.0}, {"position": POSITION}),
        ({"description": "x" * 501}, {"description": LONG}),
        ({"description": ["x"]}, {"description": "must be a string"}),
    ],
)
def test_it_refuses_bad_placements_on_create_and_patch(api, body, fields):
    assert fields_of(api("POST", "/api/monitors", {"name": "API", **body})) == fields
    assert not Monitor.objects.exists()
    api("POST", "/api/monitors", {"id": "mon_abc123", "name": "API"})
    before = api("GET", "/api/monitors/mon_abc123").content
    assert fields_of(api("PATCH", "/api/monitors/mon_abc123", body)) == fields
    assert api("GET", "/api/monitors/mon_abc123").content == before


def test_a_group_deleted_while_a_monitor_joins_it_is_refused(api, monkeypatch):
    """The group is checked, then deleted before the write holds it."""
    create_group(api, id="grp_core")
    api("POST", "/api/monitors", {"id": "mon_abc123", "name": "API"})
    real_hold = type(MonitorGroup.objects).hold

    def deleted_meanwhile(self, group_id):
        MonitorGroup.objects.filter(pk=group_id).delete()
        return real_hold(self, group_id)

    monkeypatch.setattr(type(MonitorGroup.objects), "hold", deleted_meanwhile)
    response = api("PATCH", "/api/monitors/mon_abc123", {"groupId": "grp_core"})
    assert fields_of(response) == {"groupId": "unknown group id: grp_core"}
    assert Monitor.objects.get().group_id is None


def test_a_group_change_is_seen_by_cached_lists_at_once(api):
    create_group(api, id="grp_core")
    first = api("GET", "/api/groups")
    again = api("GET", "/api/groups", **{"If-None-Match": first["ETag"]})
    assert again.status_code == 304
    api("POST", "/api/monitors", {"id": "mon_abc123", "name": "API", "groupId": "grp_core"})
    fresh = api("GET", "/api/groups", **{"If-None-Match": first["ETag"]})
    assert fresh.status_code == 200
    assert fresh.json()[0]["monitorIds"] == ["mon_abc123"]


def test_a_groups_monitor_ids_are_in_page_order_however_it_is_read(make_monitor):
    MonitorGroup.create_group(id="grp_core", name="Core")
    make_monitor(id="mon_second", group_id="grp_core", position=2)
    make_monitor(id="mon_first1", group_id="grp_core", position=1)
    expected = ["mon_first1", "mon_second"]
    assert MonitorGroup.objects.get(pk="grp_core").to_dict()["monitorIds"] == expected
    assert MonitorGroup.objects.with_members().get().to_dict()["monitorIds"] == expected
