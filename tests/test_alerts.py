"""Alerts: a monitor's failure reaches operators by email and signed webhook,
except while a maintenance window covers it; the window's end catches up."""

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from incidents.alerts import delivery, signing
from incidents.alerts.models import Alert, AlertAttempt, AlertChannel, WindowEnd
from incidents.alerts.tasks import process_window_ends, window_ends
from incidents.management.commands.worker import Command
from incidents.models import Monitor
from tests.admin_forms import submit
from tests.servers import free_port
from tests.webhook_receiver import running_receiver

T0 = datetime(2025, 6, 1, 2, 0, tzinfo=UTC)  # a window starts
T1 = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)  # and ends
MINUTE = timedelta(minutes=1)
SECRET = "whsec_test-secret"


@pytest.fixture(autouse=True)
def every_change_alerted(settings):
    """These tests count one alert per change of state: coalescing a flapping
    monitor (ALERT_COALESCE_SECONDS) is tested in tests/test_alerts_hardening.py."""
    settings.ALERT_COALESCE_SECONDS = 0


@pytest.fixture
def receiver(settings):
    # The receiver listens on loopback: the operator's opt-in for private targets.
    settings.CHECKS_ALLOW_PRIVATE = True
    with running_receiver() as received:
        yield received


@pytest.fixture
def fast_retries(settings):
    settings.ALERT_RETRY_DELAYS = [0, 0]  # three attempts, no waiting


@pytest.fixture
def channels(settings, receiver, fast_retries, db):
    """Two channels: an email address from the environment and a webhook set
    in the admin."""
    settings.ALERT_EMAILS = ["ops@example.com"]
    settings.ALERT_WEBHOOK_URL = ""
    return AlertChannel.objects.create(
        name="On-call bot", kind="webhook", url=receiver.url, secret=SECRET
    )


@pytest.fixture
def api_monitor(make_monitor):
    return make_monitor(id="mon_abc123", name="API")


@pytest.fixture
def window(make_incident, api_monitor):
    """A maintenance window over the API monitor, planned the day before."""
    with time_machine.travel(T0 - timedelta(days=1), tick=False):
        return make_incident(
            title="Database upgrade",
            status="monitoring",
            message="Planned.",
            monitor_ids=[api_monitor.id],
            scheduled_start=T0,
            scheduled_end=T1,
        )


def run_worker():
    call_command("worker", "--once")


def outcomes():
    return sorted((a.channel_kind, a.kind, a.reason, a.outcome) for a in Alert.objects.all())


def verified(receiver, request_index=0):
    headers, body = receiver.requests[request_index]
    return signing.verify(SECRET, headers["Kamustatus-Signature"], body)


class TestDeciding:
    def test_a_failure_raises_one_alert_per_channel(self, channels, api_monitor, receiver):
        api_monitor.change(status="down")
        assert outcomes() == [
            ("email", "down", "transition", "pending"),
            ("webhook", "down", "transition", "pending"),
        ]
        assert mail.outbox == [] and receiver.requests == []  # not on the request path

        run_worker()

        assert outcomes() == [
            ("email", "down", "transition", "sent"),
            ("webhook", "down", "transition", "sent"),
        ]
        [email] = mail.outbox
        assert email.to == ["ops@example.com"]
        assert email.subject == "[Kamustatus] API is down"
        assert "Status: down (was operational)" in email.body
        [body] = receiver.bodies()
        assert body["type"] == "monitor.down"
        assert body["monitor"] == {
            "id": "mon_abc123",
            "name": "API",
            "status": "down",
            "previousStatus": "operational",
        }
        assert verified(receiver)

    def test_the_same_state_twice_raises_nothing(self, channels, api_monitor):
        api_monitor.change(status="degraded")
        api_monitor.change(status="degraded")
        api_monitor.report_status("degraded")
        assert Alert.objects.filter(kind="degraded").count() == 2  # one per channel, once
        run_worker()
        assert len(mail.outbox) == 1

    def test_each_transition_alerts_and_a_recovery_says_so(self, channels, api_monitor, receiver):
        api_monitor.change(status="degraded")
        api_monitor.change(status="down")
        api_monitor.change(status="operational")
        run_worker()
        assert [m.subject for m in reversed(mail.outbox)] != []
        assert sorted(m.subject for m in mail.outbox) == [
            "[Kamustatus] API has recovered",
            "[Kamustatus] API is degraded",
            "[Kamustatus] API is down",
        ]
        assert sorted(b["type"] for b in receiver.bodies()) == [
            "monitor.degraded",
            "monitor.down",
            "monitor.recovered",
        ]

    def test_a_name_change_alone_raises_nothing(self, channels, api_monitor):
        api_monitor.change(name="Public API")
        assert not Alert.objects.exists()

    def test_without_channels_the_alert_is_recorded_as_suppressed(self, settings, api_monitor):
        settings.ALERT_EMAILS, settings.ALERT_WEBHOOK_URL = [], ""
        AlertChannel.objects.create(name="Off", kind="email", email="x@example.com", enabled=False)
        api_monitor.change(status="down")
        alert = Alert.objects.get()
        assert (alert.kind, alert.outcome) == ("down", "suppressed")
        assert alert.channel_name == "no channel"
        assert alert.to_dict()["channel"] is None
        run_worker()
        assert mail.outbox == []
        assert Alert.objects.get().outcome == "suppressed"

    def test_a_destination_in_both_places_gets_one_alert(self, settings, api_monitor):
        settings.ALERT_EMAILS = ["Ops@Example.com", "ops@example.com"]
        AlertChannel.objects.create(name="Ops", kind="email", email="ops@example.com")
        api_monitor.change(status="down")
        run_worker()
        assert [m.to for m in mail.outbox] == [["ops@example.com"]]

    def test_the_environment_webhook_is_signed_with_its_secret(
        self, settings, receiver, api_monitor
    ):
        settings.ALERT_EMAILS = []
        settings.ALERT_WEBHOOK_URL = receiver.url
        settings.ALERT_WEBHOOK_SECRET = SECRET
        api_monitor.change(status="down")
        run_worker()
        assert Alert.objects.get().outcome == "sent"
        assert verified(receiver)

    def test_a_rolled_back_change_leaves_no_alert(self, channels, api_monitor):
        from django.db import transaction

        with pytest.raises(RuntimeError), transaction.atomic():
            api_monitor.change(status="down")
            raise RuntimeError("the request failed")
        assert not Alert.objects.exists()
        run_worker()
        assert mail.outbox == []

    def test_a_multiline_name_makes_a_one_line_subject(self, channels, make_monitor):
        # Refused as input now (control characters); a row stored before that
        # rule still makes a one-line subject.
        monitor = make_monitor(name="API")
        Monitor.objects.filter(pk=monitor.pk).update(name="API\nBcc: victim@example.com")
        monitor.refresh_from_db()
        monitor.change(status="down")
        run_worker()
        assert mail.outbox[0].subject == "[Kamustatus] API Bcc: victim@example.com is down"
        assert mail.outbox[0].to == ["ops@example.com"]

    def test_an_alert_outlives_its_monitor(self, channels, api_monitor):
        api_monitor.change(status="down")
        api_monitor.delete_with_audit()
        run_worker()
        assert mail.outbox[0].subject == "[Kamustatus] API is down"
        assert set(Alert.objects.values_list("monitor_ref", "outcome")) == {("mon_abc123", "sent")}


class TestMaintenance:
    def test_inside_a_window_alerts_are_suppressed_and_nothing_is_delivered(
        self, channels, api_monitor, window, receiver
    ):
        with time_machine.travel(T0 + MINUTE, tick=False):
            api_monitor.change(status="down")
            run_worker()
        assert outcomes() == [
            ("email", "down", "transition", "suppressed"),
            ("webhook", "down", "transition", "suppressed"),
        ]
        assert set(Alert.objects.values_list("window_id", "window_ref")) == {(window.id, window.id)}
        assert mail.outbox == [] and receiver.requests == []

    def test_a_window_over_another_monitor_suppresses_nothing(self, channels, make_monitor, window):
        other = make_monitor(name="Website")
        with time_machine.travel(T0 + MINUTE, tick=False):
            other.change(status="down")
            run_worker()
        assert {a.outcome for a in Alert.objects.all()} == {"sent"}

    def test_before_and_after_the_window_alerts_go_out(self, channels, api_monitor, window):
        with time_machine.travel(T0 - MINUTE, tick=False):
            api_monitor.change(status="down")
        with time_machine.travel(T1, tick=False):  # the end is not covered: [start, end)
            api_monitor.change(status="operational")
            run_worker()
        assert outcomes() == [
            ("email", "down", "transition", "sent"),
            ("email", "recovered", "transition", "sent"),
            ("webhook", "down", "transition", "sent"),
            ("webhook", "recovered", "transition", "sent"),
        ]

    def test_still_down_when_the_window_ends_alerts_once(
        self, channels, api_monitor, window, receiver
    ):
        with time_machine.travel(T0 + MINUTE, tick=False):
            api_monitor.change(status="down")
            run_worker()
        with time_machine.travel(T1 - MINUTE, tick=False):
            run_worker()  # still in force: nothing yet
        assert mail.outbox == []
        with time_machine.travel(T1 + 30 * timedelta(seconds=1), tick=False):
            run_worker()
            run_worker()  # a second check, or a second worker, sends nothing more
            assert verified(receiver)
        [email] = mail.outbox
        assert email.subject == "[Kamustatus] API is still down after maintenance"
        assert f"Maintenance window {window.id} has ended." in email.body
        [body] = receiver.bodies()
        assert (body["type"], body["reason"], body["windowId"]) == (
            "monitor.down",
            "window_end",
            window.id,
        )
        assert WindowEnd.objects.get().ended_at == T1

    def test_recovered_during_the_window_sends_nothing(
        self, channels, api_monitor, window, receiver
    ):
        with time_machine.travel(T0 + MINUTE, tick=False):
            api_monitor.change(status="down")
        with time_machine.travel(T0 + 2 * MINUTE, tick=False):
            api_monitor.change(status="operational")
        with time_machine.travel(T1 + MINUTE, tick=False):
            run_worker()
        assert outcomes() == [
            ("email", "down", "transition", "suppressed"),
            ("email", "recovered", "transition", "suppressed"),
            ("webhook", "down", "transition", "suppressed"),
            ("webhook", "recovered", "transition", "suppressed"),
        ]
        assert mail.outbox == [] and receiver.requests == []

    def test_a_window_resolved_early_ends_then(self, channels, api_monitor, window):
        with time_machine.travel(T0 + MINUTE, tick=False):
            api_monitor.change(status="degraded")
        with time_machine.travel(T0 + 10 * MINUTE, tick=False):
            window.resolve("Done early, but the API is still slow.")
            run_worker()
        assert [m.subject for m in mail.outbox] == [
            "[Kamustatus] API is still degraded after maintenance"
        ]
        assert WindowEnd.objects.get().ended_at == T0 + 10 * MINUTE

    def test_resolving_a_window_queues_the_end_check_at_once(self, channels, api_monitor, window):
        with time_machine.travel(T0 + MINUTE, tick=False):
            api_monitor.change(status="down")
        with time_machine.travel(T0 + 10 * MINUTE, tick=False):
            window.resolve("Done early.")
            [queued] = DBTaskResult.objects.filter(task_path=process_window_ends.module_path)
            assert process_window_ends.call() == 2  # one alert per channel
            assert process_window_ends.call() == 0  # and only once

    def test_ordinary_incidents_and_cancelled_windows_queue_no_check(
        self, channels, make_incident, make_monitor
    ):
        make_incident().resolve("Fixed.")
        with time_machine.travel(T0 - timedelta(days=1), tick=False):
            make_incident(scheduled_start=T0, scheduled_end=T1).resolve("Cancelled.")
        assert not DBTaskResult.objects.filter(task_path=process_window_ends.module_path)

    def test_the_worker_wakes_up_when_a_window_ends(self, window):
        with time_machine.travel(T1 - 10 * timedelta(seconds=1), tick=False):
            assert window_ends.duty.seconds_to_next_run(60) == pytest.approx(10, abs=0.1)
        with time_machine.travel(T1, tick=False):
            assert window_ends.duty.seconds_to_next_run(60) == 60

    def test_a_failure_after_the_end_is_not_announced_twice(self, channels, api_monitor, window):
        with time_machine.travel(T1 + 10 * timedelta(seconds=1), tick=False):
            api_monitor.change(status="down")  # ordinary alert: the window is over
            run_worker()  # the window-end check comes later and stays silent
        assert outcomes() == [
            ("email", "down", "transition", "sent"),
            ("webhook", "down", "transition", "sent"),
        ]

    def test_a_window_cancelled_before_it_began_sends_nothing(
        self, channels, make_monitor, make_incident
    ):
        monitor = make_monitor()
        with time_machine.travel(T0 - timedelta(hours=5), tick=False):
            monitor.change(status="down")
            planned = make_incident(
                title="Cancelled",
                monitor_ids=[monitor.id],
                scheduled_start=T0,
                scheduled_end=T1,
            )
            run_worker()
        with time_machine.travel(T0 - timedelta(hours=1), tick=False):
            planned.resolve("Cancelled.")
        with time_machine.travel(T1 + MINUTE, tick=False):
            run_worker()
        assert len(mail.outbox) == 1  # the original failure only
        assert not WindowEnd.objects.exists()

    def test_a_monitor_under_a_second_window_waits_for_it(
        self, channels, api_monitor, window, make_incident
    ):
        with time_machine.travel(T0 - timedelta(days=1), tick=False):
            make_incident(
                title="Longer work",
                monitor_ids=[api_monitor.id],
                scheduled_start=T0,
                scheduled_end=T1 + timedelta(hours=1),
            )
        with time_machine.travel(T0 + MINUTE, tick=False):
            api_monitor.change(status="down")
        with time_machine.travel(T1 + MINUTE, tick=False):
            run_worker()
        assert mail.outbox == []
        with time_machine.travel(T1 + timedelta(hours=1, minutes=1), tick=False):
            run_worker()
        assert [m.subject for m in mail.outbox] == [
            "[Kamustatus] API is still down after maintenance"
        ]

    def test_long_finished_windows_are_not_dug_up(self, channels, api_monitor, window):
        with time_machine.travel(T0 + MINUTE, tick=False):
            api_monitor.change(status="down")
        with time_machine.travel(T1 + timedelta(days=2), tick=False):
            run_worker()
        assert mail.outbox == []


class TestSignature:
    def test_a_receiver_can_verify_the_signature(self):
        body = b'{"id":"alr_x"}'
        header = signing.signature_header(SECRET, body, timestamp=1_750_000_000)
        timestamp, digest = header.split(",")
        assert timestamp == "t=1750000000"
        assert len(digest.removeprefix("v1=")) == 64
        assert signing.verify(SECRET, header, body, now=1_750_000_100)

    @pytest.mark.parametrize(
        ("secret", "body", "now"),
        [
            ("whsec_wrong", b'{"id":"alr_x"}', 1_750_000_000),  # another secret
            (SECRET, b'{"id":"alr_y"}', 1_750_000_000),  # a changed body
            (SECRET, b'{"id":"alr_x"}', 1_750_000_000 + 301),  # replayed later
        ],
    )
    def test_anything_else_fails_verification(self, secret, body, now):
        header = signing.signature_header(SECRET, b'{"id":"alr_x"}', timestamp=1_750_000_000)
        assert not signing.verify(secret, header, body, now=now)

    def test_the_documented_snippet_verifies_a_real_signature(self):
        readme = (Path(__file__).resolve().parent.parent / "docs" / "alerts.md").read_text()
        webhooks = readme[readme.index("## Webhooks") :]
        start = webhooks.index("```python") + len("```python")
        snippet = webhooks[start : webhooks.index("```", start)]
        namespace = {}
        exec(snippet, namespace)  # noqa: S102 (our own documentation)
        body = b'{"id":"alr_x","type":"monitor.down"}'
        header = signing.signature_header(SECRET, body)
        assert namespace["verify"](SECRET, header, body)
        assert not namespace["verify"]("whsec_other", header, body)
        assert not namespace["verify"](SECRET, header, body + b" ")

    @pytest.mark.parametrize("header", ["", "t=abc,v1=00", "v1=00", "nonsense"])
    def test_malformed_headers_fail_verification(self, header):
        assert not signing.verify(SECRET, header, b"{}")


class TestDelivery:
    def test_a_failing_webhook_is_retried_then_recorded_failed(
        self, channels, api_monitor, receiver
    ):
        receiver.statuses = [500, 502, 503]
        api_monitor.change(status="down")
        run_worker()
        alert = Alert.objects.get(channel_kind="webhook")
        assert alert.outcome == "failed"
        assert alert.last_error == "HTTP 503"
        assert alert.finished_at is not None
        attempts = list(alert.attempts.values_list("number", "status_code", "succeeded"))
        assert attempts == [(1, 500, False), (2, 502, False), (3, 503, False)]
        assert len(receiver.requests) == 3
        assert Alert.objects.get(channel_kind="email").outcome == "sent"

    def test_a_retry_that_succeeds_is_sent(self, channels, api_monitor, receiver):
        receiver.statuses = [503]
        api_monitor.change(status="down")
        run_worker()
        alert = Alert.objects.get(channel_kind="webhook")
        assert (alert.outcome, alert.attempt_count, alert.last_error) == ("sent", 2, "")
        assert list(alert.attempts.values_list("status_code", flat=True)) == [503, 200]
        bodies = receiver.bodies()
        assert bodies[0] == bodies[1]  # the same alert, with its id to deduplicate on
        assert [h["Kamustatus-Alert-Id"] for h, _ in receiver.requests] == [alert.id] * 2

    def test_retries_wait_their_delay(self, settings, channels, api_monitor, receiver):
        settings.ALERT_RETRY_DELAYS = [60]
        receiver.statuses = [500]
        with time_machine.travel(T0, tick=False):
            api_monitor.change(status="down")
            run_worker()
            alert = Alert.objects.get(channel_kind="webhook")
            assert (alert.outcome, alert.next_attempt_at) == ("pending", T0 + MINUTE)
        with time_machine.travel(T0 + MINUTE, tick=False):
            run_worker()
        alert.refresh_from_db()
        assert (alert.outcome, alert.attempt_count) == ("sent", 2)

    def test_an_unreachable_webhook_fails_with_the_reason(self, settings, channels, api_monitor):
        closed_port = free_port()  # a loopback port nobody listens on
        channels.url = f"http://127.0.0.1:{closed_port}/"
        channels.save()
        api_monitor.change(status="down")
        run_worker()
        alert = Alert.objects.get(channel_kind="webhook")
        assert alert.outcome == "failed"
        assert alert.last_error.startswith("could not connect")
        assert alert.attempts.count() == 3

    def test_a_slow_webhook_times_out(self, settings, channels, api_monitor, receiver):
        settings.ALERT_WEBHOOK_TIMEOUT = 0.2
        settings.ALERT_RETRY_DELAYS = []
        receiver.delay = 1
        api_monitor.change(status="down")
        run_worker()
        alert = Alert.objects.get(channel_kind="webhook")
        assert (alert.outcome, alert.last_error) == ("failed", "timed out after 0.2s")

    def test_a_redirect_is_not_followed(self, channels, api_monitor, receiver):
        receiver.statuses = [302, 302, 302]
        api_monitor.change(status="down")
        run_worker()
        assert Alert.objects.get(channel_kind="webhook").last_error == "HTTP 302"
        assert len(receiver.requests) == 3

    def test_a_webhook_channel_deleted_meanwhile_fails_at_once(
        self, channels, api_monitor, receiver
    ):
        api_monitor.change(status="down")
        channels.delete()
        run_worker()
        alert = Alert.objects.get(channel_kind="webhook")
        assert (alert.outcome, alert.attempt_count) == ("failed", 1)
        assert receiver.requests == []

    def test_a_claimed_alert_is_not_delivered_again(self, channels, api_monitor, receiver):
        api_monitor.change(status="down")
        alert = Alert.objects.get(channel_kind="webhook")
        assert Alert.objects.claim(alert.pk) is not None
        assert Alert.objects.claim(alert.pk) is None
        assert delivery.deliver(alert.pk) is None
        assert receiver.requests == []

    def test_a_stale_claim_is_taken_over(self, channels, api_monitor, receiver):
        with time_machine.travel(T0, tick=False):
            api_monitor.change(status="down")
            alert = Alert.objects.get(channel_kind="webhook")
            Alert.objects.claim(alert.pk)  # and the worker dies
        with time_machine.travel(T0 + 6 * MINUTE, tick=False):
            run_worker()  # the edge check queues it again
        alert.refresh_from_db()
        assert alert.outcome == "sent"
        assert len(receiver.requests) == 1

    def test_a_failed_alert_can_be_delivered_again(self, channels, api_monitor, receiver):
        receiver.statuses = [500, 500, 500]
        api_monitor.change(status="down")
        run_worker()
        alert = Alert.objects.get(channel_kind="webhook")
        assert alert.deliver_again()
        run_worker()
        alert.refresh_from_db()
        assert alert.outcome == "sent"
        assert not Alert.objects.get(channel_kind="email").deliver_again()  # it was sent


@pytest.fixture
def concurrent_database(db):
    if connection.vendor == "sqlite":
        pytest.skip(
            "threads share SQLite's in-memory test database with table locks; "
            "tests/test_alerts_worker.py races worker processes on a SQLite file"
        )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("concurrent_database")
class TestTwoWorkers:
    def test_two_workers_racing_deliver_once(self, settings, receiver, make_monitor):
        settings.ALERT_EMAILS = []
        settings.ALERT_RETRY_DELAYS = []
        AlertChannel.objects.create(name="Hook", kind="webhook", url=receiver.url, secret=SECRET)
        monitor = make_monitor()
        monitor.change(status="down")
        alert = Alert.objects.get()
        start = threading.Barrier(4)
        results = []

        def worker():
            try:
                start.wait()
                results.append(delivery.deliver(alert.pk))
            finally:
                connection.close()

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert (results.count("sent"), results.count(None)) == (1, 3)
        assert len(receiver.requests) == 1
        assert AlertAttempt.objects.count() == 1

    def test_two_workers_process_a_window_end_once(
        self, settings, receiver, make_monitor, make_incident
    ):
        settings.ALERT_EMAILS = []
        AlertChannel.objects.create(name="Hook", kind="webhook", url=receiver.url, secret=SECRET)
        monitor = make_monitor()
        with time_machine.travel(T0 - timedelta(days=1), tick=False):
            make_incident(monitor_ids=[monitor.id], scheduled_start=T0, scheduled_end=T1)
        with time_machine.travel(T0 + MINUTE, tick=False):
            monitor.change(status="down")
        start = threading.Barrier(3)
        created, errors = [], []

        def worker():
            try:
                start.wait()
                created.append(len(WindowEnd.objects.process_due(now=T1 + MINUTE)))
            except Exception as error:
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert errors == []
        assert sorted(created) == [0, 0, 1]
        assert Alert.objects.filter(reason="window_end").count() == 1


class TestFaces:
    def test_an_admin_status_change_raises_an_alert(self, channels, api_monitor, admin_client):
        url = reverse("admin:incidents_monitor_change", args=[api_monitor.pk])
        response = submit(admin_client, url, "monitor_form", status="down")
        assert response.status_code == 302
        assert Monitor.objects.get(pk=api_monitor.pk).status == "down"
        run_worker()
        assert [m.subject for m in mail.outbox] == ["[Kamustatus] API is down"]

    def test_the_admin_shows_alerts_and_their_attempts(self, channels, api_monitor, admin_client):
        api_monitor.change(status="down")
        run_worker()
        alert = Alert.objects.get(channel_kind="webhook")
        listing = admin_client.get(reverse("admin:alerts_alert_changelist"))
        assert listing.status_code == 200
        assert "On-call bot" in listing.content.decode()
        page = admin_client.get(reverse("admin:alerts_alert_change", args=[alert.pk]))
        assert page.status_code == 200
        assert SECRET not in page.content.decode()
        assert "Sent" in page.content.decode()

    def test_the_admin_adds_a_webhook_channel_with_a_secret(self, admin_client, db):
        url = reverse("admin:alerts_alertchannel_add")
        response = admin_client.post(
            url, {"name": "Hook", "kind": "webhook", "url": "", "secret": "", "email": ""}
        )
        assert response.status_code == 200  # refused: no URL, no secret
        assert not AlertChannel.objects.exists()
        response = admin_client.post(
            url,
            {
                "name": "Hook",
                "kind": "webhook",
                "url": "https://hooks.example.com/x",
                "secret": "s3cret",
                "enabled": "on",
            },
        )
        assert response.status_code == 302
        assert AlertChannel.objects.get().target == "https://hooks.example.com/x"

    def test_the_admin_delivers_failed_alerts_again(
        self, channels, api_monitor, admin_client, receiver
    ):
        receiver.statuses = [500, 500, 500]
        api_monitor.change(status="down")
        run_worker()
        failed = Alert.objects.get(outcome="failed")
        sent = Alert.objects.get(outcome="sent")
        response = admin_client.post(
            reverse("admin:alerts_alert_changelist"),
            {"action": "deliver_again", "_selected_action": [failed.pk, sent.pk]},
            follow=True,
        )
        messages = [str(m) for m in response.context["messages"]]
        assert "1 alert(s) queued for delivery." in messages
        run_worker()
        assert set(Alert.objects.values_list("outcome", flat=True)) == {"sent"}
        assert len(receiver.requests) == 4


class TestWorkerLoop:
    def test_a_database_error_does_not_stop_the_worker(self, db, monkeypatch):
        from django.db import OperationalError

        from incidents.management.commands import worker as worker_module

        command = Command()
        calls = []

        def run_due_tasks():
            calls.append(1)
            if len(calls) == 1:
                raise OperationalError("server closed the connection unexpectedly")
            command.stopping.set()  # the second round worked: stop here

        monkeypatch.setattr(worker_module, "RETRY_AFTER_ERROR", 0)
        monkeypatch.setattr(command, "install_signal_handlers", lambda: None)
        monkeypatch.setattr(command, "run_due_tasks", run_due_tasks)
        command.handle(once=False, interval=0.01, edge_interval=60)
        assert len(calls) == 2
