"""The domain rules, on whichever database the suite runs on."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection

from incidents.cache import generation
from incidents.models import (
    ApiKey,
    AuditRecord,
    Conflict,
    Incident,
    IncidentUpdate,
    Monitor,
    MonitorStatusChange,
    isostring,
)

T0 = datetime(2025, 6, 1, 2, 0, tzinfo=UTC)
T1 = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.fixture
def window(make_monitor, make_incident):
    make_monitor(id="mon_abc123", name="API")
    make_monitor(id="mon_def456", name="Database")
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        return make_incident(
            title="Planned maintenance",
            status="monitoring",
            message="Scheduled maintenance window for infrastructure upgrade.",
            monitor_ids=["mon_abc123", "mon_def456"],
            scheduled_start=T0,
            scheduled_end=T1,
        )


class TestIds:
    def test_ids_are_prefixed_and_opaque(self, make_monitor, make_incident):
        incident = make_incident()
        monitor = Monitor.create_monitor(name="No id given")
        assert re.fullmatch(r"inc_[a-z0-9]{16}", incident.id)
        assert re.fullmatch(r"upd_[a-z0-9]{16}", incident.updates.get().id)
        assert re.fullmatch(r"mon_[a-z0-9]{16}", monitor.id)

    def test_chosen_monitor_id_must_match_the_pattern(self, db):
        with pytest.raises(ValidationError) as excinfo:
            Monitor.create_monitor(name="Bad", id="MON_X")
        assert "id" in excinfo.value.message_dict
        assert not Monitor.objects.exists()

    def test_chosen_monitor_id_cannot_be_taken_twice(self, make_monitor):
        make_monitor(id="mon_abc123")
        with pytest.raises(Conflict):
            Monitor.create_monitor(name="Again", id="mon_abc123")


class TestTimeline:
    def test_opening_creates_the_first_update(self, make_incident):
        with time_machine.travel(datetime(2025, 5, 15, 8, 30, 0, 700_000, tzinfo=UTC), tick=False):
            incident = make_incident(status="investigating", message="Looking into it.")
        data = incident.to_dict()
        assert data["status"] == "investigating"
        assert data["startedAt"] == "2025-05-15T08:30:00Z"
        assert [(u["status"], u["message"], u["createdAt"]) for u in data["updates"]] == [
            ("investigating", "Looking into it.", "2025-05-15T08:30:00Z")
        ]

    def test_posting_an_update_appends_and_moves_the_status(self, make_incident):
        incident = make_incident()
        incident.post_update("identified", "Found it.")
        incident.post_update(message="Still on it.")  # no status: keeps the current one
        incident.refresh_from_db()
        statuses = [u.status for u in incident.timeline()]
        assert statuses == ["investigating", "identified", "identified"]
        assert incident.status == "identified"
        assert [u.sequence for u in incident.timeline()] == [1, 2, 3]

    def test_status_always_equals_the_latest_update(self, make_incident):
        incident = make_incident()
        for status in ["identified", "monitoring", "resolved", "investigating", "monitoring"]:
            incident.post_update(status, f"now {status}")
            latest = IncidentUpdate.objects.filter(incident=incident).order_by("-sequence")[0]
            assert Incident.objects.get(pk=incident.pk).status == latest.status == status

    def test_resolving_sets_resolved_at_and_reopening_clears_it(self, make_incident):
        incident = make_incident()
        with time_machine.travel(datetime(2025, 5, 15, 9, 0, tzinfo=UTC), tick=False):
            incident.resolve("Fixed.")
        assert isostring(incident.resolved_at) == "2025-05-15T09:00:00Z"
        with time_machine.travel(datetime(2025, 5, 15, 9, 5, tzinfo=UTC), tick=False):
            incident.post_update("resolved", "Still fixed.")
        assert isostring(incident.resolved_at) == "2025-05-15T09:00:00Z"
        incident.post_update("investigating", "It is back.")
        assert incident.resolved_at is None
        assert Incident.objects.get(pk=incident.pk).resolved_at is None

    def test_a_bad_status_changes_nothing(self, make_incident):
        incident = make_incident()
        with pytest.raises(ValidationError) as excinfo:
            incident.change(status="fixed", title="New title", message="x")
        assert "investigating, identified, monitoring, resolved" in str(excinfo.value)
        incident.refresh_from_db()
        assert incident.title == "Something is wrong"
        assert incident.updates.count() == 1

    def test_editing_fields_adds_no_timeline_entry(self, make_incident, make_monitor):
        incident = make_incident()
        first, second = make_monitor(), make_monitor()
        incident.change(title="  Renamed  ", monitor_ids=[second.id, first.id])
        incident.refresh_from_db()
        assert incident.title == "Renamed"
        assert incident.monitor_ids == [second.id, first.id]
        assert incident.updates.count() == 1

    def test_unknown_or_duplicate_monitors_are_refused(self, make_incident, make_monitor):
        monitor = make_monitor()
        with pytest.raises(ValidationError, match="unknown monitor ids: mon_nope"):
            make_incident(monitor_ids=[monitor.id, "mon_nope"])
        with pytest.raises(ValidationError, match="duplicate"):
            make_incident(monitor_ids=[monitor.id, monitor.id])
        assert not Incident.objects.exists()

    def test_titles_are_trimmed_and_bounded(self, make_incident):
        assert make_incident(title="  Padded ").title == "Padded"
        for bad in ["", "   ", "x" * 201]:
            with pytest.raises(ValidationError):
                make_incident(title=bad)

    def test_deleting_keeps_a_snapshot_in_the_audit_trail(self, make_incident):
        incident = make_incident()
        incident.post_update("resolved", "Done.")
        snapshot = incident.delete_with_audit()
        assert not Incident.objects.filter(pk=incident.pk).exists()
        assert not IncidentUpdate.objects.filter(incident_id=incident.pk).exists()
        record = AuditRecord.objects.get(object_id=incident.pk, action="deleted")
        assert record.snapshot == snapshot
        assert [u["status"] for u in record.snapshot["updates"]] == ["investigating", "resolved"]


class TestMaintenance:
    def test_a_window_serialises_its_schedule(self, window):
        data = window.to_dict()
        assert data["maintenance"] is True
        assert data["startedAt"] == data["scheduledStart"] == "2025-06-01T02:00:00Z"
        assert data["scheduledEnd"] == "2025-06-01T04:00:00Z"

    def test_an_incident_is_not_maintenance(self, make_incident):
        data = make_incident().to_dict()
        assert (data["maintenance"], data["scheduledStart"], data["scheduledEnd"]) == (
            False,
            None,
            None,
        )

    @pytest.mark.parametrize(
        ("moment", "state"),
        [
            (T0 - SECOND, "upcoming"),
            (T0, "active"),
            (T0 + SECOND, "active"),
            (T1 - SECOND, "active"),
            (T1, "over"),
            (T1 + SECOND, "over"),
        ],
    )
    def test_state_follows_the_clock_at_both_edges(self, window, moment, state):
        with time_machine.travel(moment, tick=False):
            assert window.maintenance_state() == state
            assert (window in Incident.objects.active_maintenance()) == (state == "active")
            assert (window in Incident.objects.upcoming_maintenance()) == (state == "upcoming")
            assert (window in Incident.objects.finished_maintenance()) == (state == "over")
            monitors = {m.id: m.in_maintenance for m in Monitor.objects.with_maintenance()}
            assert monitors == {"mon_abc123": state == "active", "mon_def456": state == "active"}
            assert Monitor.objects.get(pk="mon_abc123").is_in_maintenance() == (state == "active")

    def test_a_window_resolved_early_is_over(self, window):
        with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
            assert window.maintenance_state() == "active"
            window.resolve("Finished early.")
            assert window.maintenance_state() == "over"
            assert not Incident.objects.active_maintenance().exists()
            assert not Monitor.objects.get(pk="mon_abc123").is_in_maintenance()

    def test_the_next_edge_is_the_nearest_start_or_end(self, window):
        with time_machine.travel(T0 - timedelta(hours=1), tick=False):
            assert Incident.objects.next_maintenance_edge() == T0
        with time_machine.travel(T0 + SECOND, tick=False):
            assert Incident.objects.next_maintenance_edge() == T1
        with time_machine.travel(T1, tick=False):
            assert Incident.objects.next_maintenance_edge() is None

    def test_a_window_needs_both_ends_in_order(self, make_incident):
        with pytest.raises(ValidationError, match="after"):
            make_incident(scheduled_start=T1, scheduled_end=T0)
        with pytest.raises(ValidationError) as missing:
            make_incident(scheduled_start=T0)
        # The API's words (CONTRACT), on the field that is missing.
        assert missing.value.message_dict == {
            "scheduled_end": ["is required for a maintenance window"]
        }
        assert not Incident.objects.exists()

    def test_moving_a_window_moves_started_at(self, window):
        window.change(scheduled_start=T0 + timedelta(hours=1))
        window = Incident.objects.get(pk=window.pk)
        assert window.to_dict()["startedAt"] == "2025-06-01T03:00:00Z"
        with pytest.raises(ValidationError):
            window.change(scheduled_end=T0)

    def test_only_windows_have_a_schedule(self, make_incident):
        incident = make_incident()
        with pytest.raises(ValidationError, match="only maintenance windows"):
            incident.change(scheduled_start=T0)


class TestMonitors:
    def test_a_status_change_is_recorded_once(self, make_monitor):
        monitor = make_monitor()
        assert monitor.report_status("down") is not None
        assert monitor.report_status("down") is None
        monitor.report_status("operational")
        transitions = list(
            MonitorStatusChange.objects.filter(monitor=monitor)
            .order_by("id")
            .values_list("from_status", "to_status")
        )
        assert transitions == [("operational", "down"), ("down", "operational")]

    def test_deleting_is_refused_while_an_open_incident_references_it(
        self, make_monitor, make_incident
    ):
        monitor = make_monitor()
        incident = make_incident(monitor_ids=[monitor.id])
        with pytest.raises(Conflict):
            monitor.delete_with_audit()
        incident.resolve("Fixed.")
        monitor.delete_with_audit()
        assert not Monitor.objects.filter(pk=monitor.pk).exists()
        # The resolved incident still names what it affected.
        assert Incident.objects.get(pk=incident.pk).monitor_ids == [monitor.id]


class TestApiKeys:
    def test_the_raw_key_is_nowhere_in_the_database(self, db):
        key, raw = ApiKey.objects.create_key("deploy")
        assert re.fullmatch(r"km_[A-Za-z0-9_-]{32,}", raw)
        assert key.prefix == raw[:10]
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM incidents_apikey")
            rows = cursor.fetchall()
        assert rows and all(raw not in str(value) for row in rows for value in row)

    def test_authentication_accepts_the_key_and_nothing_else(self, api_key):
        key, raw = api_key
        assert ApiKey.objects.authenticate(raw) == key
        assert ApiKey.objects.authenticate(raw[:-1]) is None
        assert ApiKey.objects.authenticate(raw + "x") is None
        assert ApiKey.objects.authenticate("") is None
        assert ApiKey.objects.authenticate(None) is None
        key.revoke()
        assert ApiKey.objects.authenticate(raw) is None

    def test_last_use_is_written_at_most_once_a_minute(self, api_key):
        key, _raw = api_key
        start = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
        key.record_use(start)
        key.record_use(start + timedelta(seconds=30))
        assert ApiKey.objects.get(pk=key.pk).last_used_at == start
        key.record_use(start + timedelta(seconds=61))
        assert ApiKey.objects.get(pk=key.pk).last_used_at == start + timedelta(seconds=61)


class TestGeneration:
    def test_every_write_changes_the_generation(self, make_monitor, make_incident):
        seen = {generation.current()}
        monitor = make_monitor()
        seen.add(generation.current())
        incident = make_incident(monitor_ids=[monitor.id])
        seen.add(generation.current())
        incident.post_update("identified", "Found it.")
        seen.add(generation.current())
        monitor.report_status("down")
        seen.add(generation.current())
        incident.delete_with_audit()
        seen.add(generation.current())
        assert len(seen) == 6

    def test_reading_leaves_it_alone(self, make_incident):
        make_incident()
        before = generation.current()
        Incident.objects.with_timeline().get().to_dict()
        assert generation.current() == before


@pytest.mark.django_db(transaction=True)
def test_with_the_database_cache_a_write_sets_the_token_once(monkeypatch):
    if not generation._cache_commits_with_the_data():
        pytest.skip("the after-commit token is needed with a cache outside the database")
    calls = []
    original = generation._set_new_token
    monkeypatch.setattr(
        generation, "_set_new_token", lambda **options: calls.append(1) or original(**options)
    )
    before = generation.current()
    Monitor.create_monitor(name="Committed for real")
    assert len(calls) == 1  # inside the transaction; it committed with the monitor
    assert generation.current() != before


@pytest.mark.django_db(transaction=True)
def test_with_redis_a_write_sets_the_shared_tokens_once_after_its_commit(monkeypatch):
    """Every other reader goes on answering with what it stored until the
    write commits (no render from the data as it was under a token set before
    the commit, then one more after it); the writer's own reads see a token of
    their own at once."""
    from django.core.cache import cache
    from django.db import transaction
    from django.test import override_settings

    from tests.servers import redis_caches, redis_or_skip

    redis_or_skip()
    with override_settings(CACHES=redis_caches()):
        assert not generation._cache_commits_with_the_data()
        before = generation.current()
        calls = []
        original = generation._set_new_token
        monkeypatch.setattr(
            generation, "_set_new_token", lambda **options: calls.append(1) or original(**options)
        )
        with transaction.atomic():
            Monitor.create_monitor(name="Committed for real")
            assert cache.get(generation.KEY) == before  # what every other reader sees
            assert generation.current() != before  # what this one sees
        assert len(calls) == 1  # after the commit
        after = cache.get(generation.KEY)
        assert after not in (None, before) and generation.current() == after
        assert generation.is_final(generation.systems_token())
