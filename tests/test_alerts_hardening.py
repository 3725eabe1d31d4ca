"""Alerts on a bad day: channels obey the address policy, webhook receivers
that drip bytes are cut at a deadline without delaying other channels, a
flapping monitor is coalesced, and window ends keep their alerts."""

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command

from incidents.alerts.models import Alert, AlertChannel
from tests.webhook_receiver import running_receiver

SECRET = "whsec_test-secret"


def run_worker():
    call_command("worker", "--once")


@pytest.fixture
def receiver():
    with running_receiver() as received:
        yield received


# --- Finding 10: admin webhook channels obey the checks' address policy -----------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/x",
        "file:///etc/passwd",
        "http://127.0.0.1:6379/",
        "http://10.0.0.7/hook",
        "http://[::1]:8000/",
        "http://localhost:5432/",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_a_webhook_channel_to_a_refused_address_is_refused_at_save(settings, url):
    settings.CHECKS_ALLOW_PRIVATE = False
    channel = AlertChannel(name="Bad", kind="webhook", url=url, secret=SECRET)
    with pytest.raises(ValidationError) as error:
        channel.full_clean()
    assert "url" in error.value.message_dict


@pytest.mark.django_db
def test_private_webhook_channels_need_the_explicit_opt_in(settings):
    channel = AlertChannel(name="Inside", kind="webhook", url="http://10.0.0.7/hook", secret=SECRET)
    settings.CHECKS_ALLOW_PRIVATE = True
    channel.full_clean()
    channel = AlertChannel(name="Ftp", kind="webhook", url="ftp://10.0.0.7/x", secret=SECRET)
    with pytest.raises(ValidationError):
        channel.full_clean()  # the opt-in is for addresses, never for other schemes


@pytest.mark.django_db
def test_a_channel_whose_address_is_refused_by_now_fails_at_delivery(
    settings, receiver, make_monitor
):
    """Saved while allowed (or before the rule), refused when delivered: nothing
    is sent and the alert is recorded failed with the reason."""
    settings.ALERT_EMAILS, settings.ALERT_WEBHOOK_URL = [], ""
    settings.CHECKS_ALLOW_PRIVATE = True
    AlertChannel.objects.create(name="Hook", kind="webhook", url=receiver.url, secret=SECRET)
    settings.CHECKS_ALLOW_PRIVATE = False
    make_monitor(name="API").change(status="down")
    run_worker()
    alert = Alert.objects.get()
    assert (alert.outcome, alert.last_error, alert.attempt_count) == (
        "failed",
        "address not allowed",
        1,
    )
    assert receiver.requests == []


# --- Finding 8: the ends of windows ------------------------------------------------

T = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def hook(settings, receiver):
    settings.ALERT_EMAILS, settings.ALERT_WEBHOOK_URL = [], ""
    settings.ALERT_RETRY_DELAYS = []
    settings.CHECKS_ALLOW_PRIVATE = True
    return AlertChannel.objects.create(name="Hook", kind="webhook", url=receiver.url, secret=SECRET)


def window_end_alerts():
    return list(Alert.objects.filter(reason="window_end").values_list("kind", "outcome"))


@pytest.mark.django_db
def test_a_window_opened_and_resolved_within_one_second_keeps_the_alert(
    hook, make_monitor, make_incident
):
    monitor = make_monitor(name="API")
    with time_machine.travel(T + timedelta(milliseconds=200), tick=False):
        window = make_incident(
            title="Quick fix",
            monitor_ids=[monitor.id],
            scheduled_start=T,
            scheduled_end=T + timedelta(hours=1),
        )
    with time_machine.travel(T + timedelta(milliseconds=500), tick=False):
        monitor.change(status="down")  # suppressed by the window
    with time_machine.travel(T + timedelta(milliseconds=800), tick=False):
        window.resolve("Done.")
    with time_machine.travel(T + timedelta(seconds=5), tick=False):
        run_worker()
    assert Alert.objects.get(reason="transition").outcome == "suppressed"
    assert window_end_alerts() == [("down", "sent")]


@pytest.mark.django_db
def test_resolve_reopen_resolve_says_still_down_once(hook, make_monitor, make_incident, receiver):
    monitor = make_monitor(name="API")
    with time_machine.travel(T - timedelta(days=1), tick=False):
        window = make_incident(
            title="Upgrade",
            monitor_ids=[monitor.id],
            scheduled_start=T,
            scheduled_end=T + timedelta(hours=2),
        )
    with time_machine.travel(T + timedelta(minutes=1), tick=False):
        monitor.change(status="down")
    with time_machine.travel(T + timedelta(minutes=10), tick=False):
        window.resolve("Done.")
        run_worker()
    with time_machine.travel(T + timedelta(minutes=11), tick=False):
        window.change(status="monitoring", message="Not done after all.")
    with time_machine.travel(T + timedelta(minutes=20), tick=False):
        window.resolve("Now done.")
        run_worker()
    with time_machine.travel(T + timedelta(hours=3), tick=False):
        run_worker()  # the scheduled end passes too
    assert window_end_alerts() == [("down", "sent")]
    assert [body["reason"] for body in receiver.bodies()] == ["window_end"]


# --- Finding 7: a receiver that drips bytes ------------------------------------------


@pytest.fixture
def second_receiver():
    with running_receiver() as received:
        yield received


@pytest.mark.django_db
def test_a_dripping_receiver_is_cut_at_the_deadline_and_delays_no_other_channel(
    settings, receiver, second_receiver, make_monitor
):
    settings.ALERT_EMAILS, settings.ALERT_WEBHOOK_URL = [], ""
    settings.ALERT_RETRY_DELAYS = []
    settings.ALERT_WEBHOOK_TIMEOUT = 1
    settings.CHECKS_ALLOW_PRIVATE = True
    receiver.drip = 0.2  # 200 bytes, one each 0.2 s: 40 s for the whole answer
    AlertChannel.objects.create(name="Slow", kind="webhook", url=receiver.url, secret=SECRET)
    AlertChannel.objects.create(name="Fast", kind="webhook", url=second_receiver.url, secret=SECRET)
    make_monitor(name="API").change(status="down")
    run_worker()
    slow = Alert.objects.get(channel_name="Slow")
    fast = Alert.objects.get(channel_name="Fast")
    # The answer was never complete: failed, not sent.
    assert (slow.outcome, slow.last_error) == ("failed", "timed out after 1s")
    assert fast.outcome == "sent" and len(second_receiver.requests) == 1
    # Delivered side by side: the fast one was over (and recorded) first.
    [fast_attempt], [slow_attempt] = fast.attempts.all(), slow.attempts.all()
    assert fast_attempt.pk < slow_attempt.pk
    assert fast_attempt.started_at < slow_attempt.started_at + timedelta(seconds=1)


@pytest.mark.django_db
def test_an_answer_cut_short_is_a_failure(settings, make_monitor):
    """A receiver that promises 100 bytes and hangs up after 10."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def answer_badly():
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                client.settimeout(5)
                client.recv(65536)
                client.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
                client.shutdown(socket.SHUT_WR)  # 90 bytes short, and done
                while client.recv(65536):  # (read the rest: no reset)
                    pass
                client.close()

    threading.Thread(target=answer_badly, daemon=True).start()
    settings.ALERT_EMAILS, settings.ALERT_WEBHOOK_URL = [], ""
    settings.ALERT_RETRY_DELAYS = []
    settings.CHECKS_ALLOW_PRIVATE = True
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    AlertChannel.objects.create(name="Rude", kind="webhook", url=url, secret=SECRET)
    try:
        make_monitor(name="API").change(status="down")
        run_worker()
    finally:
        listener.close()
    alert = Alert.objects.get()
    assert (alert.outcome, alert.last_error) == ("failed", "incomplete answer")


# --- Finding 6: a flapping monitor -------------------------------------------------


@pytest.mark.django_db
def test_a_flapping_monitor_is_coalesced_per_channel_and_the_last_state_kept(
    settings, receiver, make_monitor
):
    from django.core import mail

    settings.ALERT_EMAILS, settings.ALERT_WEBHOOK_URL = ["ops@example.com"], ""
    settings.ALERT_RETRY_DELAYS = []
    settings.ALERT_COALESCE_SECONDS = 60
    settings.CHECKS_ALLOW_PRIVATE = True
    AlertChannel.objects.create(name="Hook", kind="webhook", url=receiver.url, secret=SECRET)
    monitor = make_monitor(name="API")
    states = ["down", "operational"] * 15  # 30 changes in 0.3 s
    for number, state in enumerate(states):
        with time_machine.travel(T + timedelta(milliseconds=10 * number), tick=False):
            monitor.change(status=state)
    with time_machine.travel(T + timedelta(seconds=1), tick=False):
        run_worker()
    assert len(receiver.requests) == 1 and len(mail.outbox) == 1  # the first change, at once
    assert receiver.bodies()[0]["type"] == "monitor.down"
    with time_machine.travel(T + timedelta(seconds=30), tick=False):
        run_worker()
    assert len(receiver.requests) == 1  # nothing more within the minute
    with time_machine.travel(T + timedelta(seconds=61), tick=False):
        run_worker()
    assert len(receiver.requests) == 2 and len(mail.outbox) == 2
    trailing = receiver.bodies()[1]
    assert trailing["type"] == "monitor.recovered"  # the last state, never lost
    assert trailing["monitor"]["status"] == "operational"
    assert trailing["monitor"]["previousStatus"] == "down"  # what the channel heard last
    assert [c["status"] for c in trailing["changes"]] == states[1:]
    assert "29 change(s) since the last alert" in mail.outbox[1].body
    assert Alert.objects.count() == 4  # two per channel, every one on the record
    assert set(Alert.objects.values_list("outcome", flat=True)) == {"sent"}

    # Quiet for a minute: the next change is alerted at once again.
    with time_machine.travel(T + timedelta(minutes=3), tick=False):
        monitor.change(status="down")
        run_worker()
    assert len(receiver.requests) == 3 and receiver.bodies()[2].get("changes") is None
