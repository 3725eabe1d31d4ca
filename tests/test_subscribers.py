"""Subscribers end to end against a real SMTP server (aiosmtpd) and a real
webhook receiver: the form, double opt-in, the outbox, the worker's fan-out
(the same function the worker loop runs), one-click unsubscribe, the manage
page, the API and the admin."""

import csv
import io
import json
import os
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse

from incidents.alerts import signing
from incidents.models import Incident
from incidents.subscribers import fanout
from incidents.subscribers.models import Delivery, DeliveryAttempt, Event, Subscriber
from incidents.subscribers.outbox import notice_window_edges
from tests.smtp_sink import running_sink
from tests.webhook_receiver import running_receiver

# How long the mail server stays down in the outage test. The mechanism is the
# same for a minute (SMTP_OUTAGE_SECONDS=60); the default keeps the suite quick.
OUTAGE_SECONDS = float(os.environ.get("SMTP_OUTAGE_SECONDS", "2"))


@pytest.fixture
def sink():
    with running_sink() as running:
        yield running


@pytest.fixture
def mail_server(settings, sink, fresh_cache):
    """Mail goes to the real SMTP sink; links point at the test client's host."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.KAMUSTATUS_PAGE_URL = "http://testserver"
    settings.SUBSCRIBER_RETRY_DELAYS = [0.2]
    settings.SUBSCRIBE_LIMIT = 100
    return sink


def work():
    """What the worker loop does for subscribers, until nothing is left that is due."""
    handled = 0
    while True:
        done = fanout.run("test-worker", budget_seconds=30)
        if not done and not Event.objects.filter(fanned_out_at__isnull=True).exists():
            return handled
        handled += done


@pytest.fixture
def monitors(make_monitor):
    return make_monitor("API", id="mon_api"), make_monitor("Website", id="mon_web")


def confirmed_subscribers(count):
    """``count`` addresses confirmed a moment ago (before any event to come)."""
    confirmed = datetime.now(UTC) - timedelta(seconds=1)
    Subscriber.objects.bulk_create(
        Subscriber(email=f"s{n}@example.com", confirmed_at=confirmed) for n in range(count)
    )


def subscribe(client, email, monitor_ids=(), **extra):
    """Post the form as the page's HTML has it: email, the ticked monitors,
    and the (empty) honeypot."""
    return client.post(
        "/subscribe/", {"email": email, "monitors": list(monitor_ids), "leave_empty": "", **extra}
    )


def link(message, pattern):
    """The path of the first link in ``message``'s text matching ``pattern``."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    found = re.search(r"http://testserver(" + pattern + r"\S*)", text)
    assert found, text
    return found[1]


def unsubscribe_path(message):
    header = str(message["List-Unsubscribe"]).strip()  # folded: the URL is long
    assert header.startswith("<http://testserver/") and header.endswith(">")
    return urlsplit(header[1:-1]).path


def confirm(client, sink, email):
    message = next(m for m in reversed(sink.messages) if str(m["To"]) == email)
    path = link(message, "/subscribe/confirm/")
    page = client.get(path)
    assert "Confirm subscription" in page.content.decode()
    # Opening the link alone (a mail scanner) does not confirm: the button does.
    assert not Subscriber.objects.get(email=email).is_confirmed
    assert client.post(path).status_code == 200
    assert Subscriber.objects.get(email=email).is_confirmed


class TestTheJourney:
    def test_subscribe_confirm_notify_unsubscribe(self, client, mail_server, monitors):
        sink = mail_server
        api, web = monitors
        assert subscribe(client, "only-api@example.com", [api.pk]).status_code == 200
        assert subscribe(client, "everything@example.com").status_code == 200
        # Not confirmed yet: an incident tells nobody.
        Incident.open_incident(
            title="Early", message="Before anyone confirmed", monitor_ids=[api.pk]
        )
        work()
        assert sorted(sink.recipients()) == ["everything@example.com", "only-api@example.com"]
        assert all("Confirm your subscription" in str(m["Subject"]) for m in sink.messages)
        for message in sink.messages:
            assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert unsubscribe_path(message).startswith("/subscriptions/")
        confirm(client, sink, "only-api@example.com")
        confirm(client, sink, "everything@example.com")
        sink.clear()

        # An incident on the website alone: only "everything" hears of it.
        website = Incident.open_incident(
            title="Website slow", message="Looking into it", monitor_ids=[web.pk]
        )
        work()
        assert sink.recipients() == ["everything@example.com"]
        assert "New incident: Website slow" in str(sink.messages[0]["Subject"])
        sink.clear()

        # An update on the API: both, once each.
        incident = Incident.open_incident(title="API errors", message="5xx", monitor_ids=[api.pk])
        work()
        sink.clear()
        incident.post_update("identified", "Found the bad deploy")
        work()
        assert sorted(sink.recipients()) == ["everything@example.com", "only-api@example.com"]
        mine = next(m for m in sink.messages if str(m["To"]) == "only-api@example.com")
        assert "Found the bad deploy" in mine.get_body(("plain",)).get_content()

        # One click in the mail client: a POST without login or CSRF token.
        response = client.post(
            unsubscribe_path(mine),
            "List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 200
        assert not Subscriber.objects.filter(email__iexact="only-api@example.com").exists()
        sink.clear()

        incident.resolve("Rolled back")
        website.resolve("Fine again")
        work()
        assert sink.recipients() == ["everything@example.com"] * 2
        assert {str(m["Subject"]) for m in sink.messages} == {
            "[Kamustatus] Resolved: API errors",
            "[Kamustatus] Resolved: Website slow",
        }

    def test_an_address_confirmed_after_an_event_is_not_sent_it(self, client, mail_server):
        subscribe(client, "late@example.com")
        work()
        incident = Incident.open_incident(title="Before", message="x")
        Subscriber.objects.get().confirm()
        work()
        assert len(mail_server.messages) == 1  # the confirmation only
        incident.resolve("done")
        work()
        assert [str(m["Subject"]) for m in mail_server.messages][-1].endswith("Resolved: Before")


class TestTheForm:
    def test_the_status_page_has_the_form_without_anything_per_visitor(self, client, monitors):
        page = client.get("/").content.decode()
        assert 'action="/subscribe/"' in page
        assert 'name="monitors" value="mon_api"' in page
        assert "csrfmiddlewaretoken" not in page

    def test_twenty_requests_for_one_address_send_one_confirmation(self, client, mail_server):
        for _ in range(20):
            assert subscribe(client, "target@example.com").status_code == 200
        work()
        assert mail_server.recipients() == ["target@example.com"]
        assert Delivery.objects.count() == 1

    def test_the_answer_is_the_same_for_new_pending_and_confirmed(self, client, mail_server):
        subscribe(client, "known@example.com")
        Subscriber.objects.get(email="known@example.com").confirm()
        subscribe(client, "pending@example.com")
        answers = [
            subscribe(client, email)
            for email in ("new@example.com", "pending@example.com", "known@example.com")
        ]
        assert {answer.status_code for answer in answers} == {200}
        assert answers[0].content == answers[1].content == answers[2].content
        assert b"example.com" not in answers[0].content

    def test_a_confirmed_address_is_reminded_of_its_manage_link_and_left_alone(
        self, client, mail_server, monitors
    ):
        subscribe(client, "known@example.com", [monitors[0].pk])
        subscriber = Subscriber.objects.get()
        subscriber.confirm()
        with time_machine.travel(datetime.now(UTC) + timedelta(minutes=11)):
            subscribe(client, "known@example.com", [monitors[1].pk])
            work()
        assert [str(m["Subject"]) for m in mail_server.messages] == [
            "[Kamustatus] Confirm your subscription",
            "[Kamustatus] You are subscribed",
        ]
        assert Subscriber.objects.get().monitor_ids == ["mon_api"]  # unchanged

    def test_the_honeypot_answers_alike_and_keeps_nothing(self, client, mail_server):
        human = subscribe(client, "human@example.com")
        bot = subscribe(client, "victim@example.com", leave_empty="http://spam.example")
        assert bot.status_code == 200 and bot.content == human.content
        assert not Subscriber.objects.filter(email="victim@example.com").exists()

    def test_a_client_address_is_limited(self, client, settings, fresh_cache):
        settings.SUBSCRIBE_LIMIT = 3
        for number in range(3):
            assert subscribe(client, f"a{number}@example.com").status_code == 200
        limited = subscribe(client, "a9@example.com")
        assert limited.status_code == 429
        assert int(limited["Retry-After"]) > 0
        assert "Too many" in limited.content.decode()
        assert not Subscriber.objects.filter(email="a9@example.com").exists()

    def test_a_bad_address_is_shown_with_the_choice_kept(self, client, monitors, fresh_cache):
        response = subscribe(client, "not-an-address", [monitors[1].pk])
        assert response.status_code == 400
        page = response.content.decode()
        assert "Enter a valid e-mail address." in page
        assert 'value="mon_web" checked' in page
        assert not Subscriber.objects.exists()

    def test_unconfirmed_subscriptions_lapse_after_48_hours(self, client, mail_server):
        subscribe(client, "forgetful@example.com")
        with time_machine.travel(datetime.now(UTC) + timedelta(hours=47)):
            assert fanout.forget_lapsed() == 0
        with time_machine.travel(datetime.now(UTC) + timedelta(hours=49)):
            assert fanout.forget_lapsed() == 1
        assert not Subscriber.objects.exists()

    def test_a_lapsed_or_forged_confirmation_link_does_not_work(self, client, mail_server):
        subscribe(client, "slow@example.com")
        work()
        path = link(mail_server.messages[0], "/subscribe/confirm/")
        with time_machine.travel(datetime.now(UTC) + timedelta(hours=49)):
            assert client.post(path).status_code == 404
        assert client.post(path[:-3] + "xx/").status_code == 404
        assert not Subscriber.objects.get().is_confirmed


class TestManage:
    def test_the_manage_page_changes_monitors_and_unsubscribes(self, client, mail_server, monitors):
        subscribe(client, "me@example.com")
        work()
        path = unsubscribe_path(mail_server.messages[0]).removesuffix("unsubscribe/")
        page = client.get(path).content.decode()
        assert "Your subscription" in page
        assert client.post(path, {"monitors": ["mon_web"]}).status_code == 200
        assert Subscriber.objects.get().monitor_ids == ["mon_web"]
        assert 'value="mon_web" checked' in client.get(path).content.decode()
        assert client.post(path, {}).status_code == 200
        assert Subscriber.objects.get().monitor_ids == []  # everything again
        unsubscribe = client.get(path + "unsubscribe/")
        assert "Unsubscribe?" in unsubscribe.content.decode()
        assert client.post(path + "unsubscribe/").status_code == 200
        assert not Subscriber.objects.exists()
        assert "You are unsubscribed" in client.get(path).content.decode()

    def test_a_forged_manage_link_is_refused(self, client, db):
        assert client.get("/subscriptions/sub_abc:forged/").status_code == 404
        assert client.post("/subscriptions/sub_abc:forged/unsubscribe/").status_code == 404


class TestOutbox:
    def test_the_event_is_written_in_the_writes_transaction(self, mail_server, make_incident):
        incident = make_incident()
        assert Event.objects.count() == 1
        with pytest.raises(RuntimeError), transaction.atomic():
            incident.post_update("monitoring", "rolled back with the write")
            assert Event.objects.count() == 2
            raise RuntimeError
        assert Event.objects.count() == 1

    def test_the_request_writes_one_row_whatever_the_number_of_subscribers(self, api, db):
        confirmed_subscribers(300)
        response = api("POST", "/api/incidents", {"title": "Down", "message": "x"})
        assert response.status_code == 201
        assert Event.objects.count() == 1
        assert Delivery.objects.count() == 0  # the worker fans out, never the request

    def test_event_types(self, make_incident):
        incident = make_incident()
        incident.post_update("identified", "found it")
        incident.change(title="Renamed")  # an edit in place tells nobody
        incident.resolve("fixed")
        incident.post_update("investigating", "it is back")
        assert list(Event.objects.order_by("created_at", "id").values_list("type", flat=True)) == [
            "incident.created",
            "incident.updated",
            "incident.resolved",
            "incident.updated",
        ]

    def test_notify_false_tells_nobody(self, api, db):
        created = api("POST", "/api/incidents", {"title": "Test", "message": "x", "notify": False})
        assert created.status_code == 201
        incident_id = created.json()["id"]
        patched = api(
            "PATCH", f"/api/incidents/{incident_id}", {"message": "typo", "notify": False}
        )
        assert patched.status_code == 200 and len(patched.json()["updates"]) == 2
        assert not Event.objects.exists()
        api("PATCH", f"/api/incidents/{incident_id}", {"message": "real news"})
        assert list(Event.objects.values_list("type", flat=True)) == ["incident.updated"]

    def test_notify_must_be_a_boolean(self, api, db):
        response = api("POST", "/api/incidents", {"title": "T", "message": "x", "notify": "no"})
        assert response.status_code == 400
        assert response.json()["error"]["fields"] == {"notify": "must be true or false"}

    def test_a_fan_out_done_twice_makes_one_delivery_per_subscriber(self, make_incident, db):
        confirmed_subscribers(2500)
        make_incident()
        event = Event.objects.get()
        assert fanout.fan_out(event) == 2500
        assert fanout.fan_out(event) == 2500  # a restarted worker redoing it
        assert Delivery.objects.filter(event=event).count() == 2500


class TestWindows:
    START = datetime(2030, 6, 1, 2, 0, tzinfo=UTC)
    END = datetime(2030, 6, 1, 4, 0, tzinfo=UTC)

    def window(self, **fields):
        with time_machine.travel(self.START - timedelta(days=2), tick=False):
            return Incident.open_incident(
                title="Database upgrade",
                message="Planned",
                scheduled_start=self.START,
                scheduled_end=self.END,
                **fields,
            )

    def types(self):
        return list(Event.objects.order_by("created_at", "id").values_list("type", flat=True))

    def test_the_clock_tells_when_a_window_starts_and_completes(self, db):
        self.window()
        with time_machine.travel(self.START + timedelta(seconds=1), tick=False):
            assert len(notice_window_edges()) == 1
            assert notice_window_edges() == []  # once, however often the worker looks
        with time_machine.travel(self.END + timedelta(seconds=1), tick=False):
            notice_window_edges()
        assert self.types() == [
            "maintenance.scheduled",
            "maintenance.started",
            "maintenance.completed",
        ]

    def test_resolved_before_it_starts_is_cancelled_and_the_clock_stays_silent(self, db):
        window = self.window()
        with time_machine.travel(self.START - timedelta(hours=1), tick=False):
            window.resolve("Postponed")
        with time_machine.travel(self.END + timedelta(seconds=1), tick=False):
            notice_window_edges()
        assert self.types() == ["maintenance.scheduled", "maintenance.cancelled"]

    def test_resolved_early_is_completed_once(self, db):
        window = self.window()
        with time_machine.travel(self.START + timedelta(minutes=5), tick=False):
            notice_window_edges()
        with time_machine.travel(self.START + timedelta(minutes=30), tick=False):
            window.resolve("Done early")
        with time_machine.travel(self.END + timedelta(seconds=1), tick=False):
            notice_window_edges()
        assert self.types() == [
            "maintenance.scheduled",
            "maintenance.started",
            "maintenance.completed",
        ]

    def test_a_silent_window_stays_silent(self, db):
        self.window(notify=False)
        with time_machine.travel(self.START + timedelta(seconds=1), tick=False):
            notice_window_edges()
        assert self.types() == []


class TestMail:
    def test_mails_have_both_parts_with_user_text_escaped(self, client, mail_server, monitors):
        subscriber = Subscriber.objects.add_email("ops@example.com", skip_confirmation=True)
        assert subscriber.is_confirmed
        incident = Incident.open_incident(
            title="<b>Bold</b> & co", message="<script>alert(1)</script>\nline two"
        )
        work()
        message = mail_server.messages[-1]
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;<br>" in html
        assert "&lt;b&gt;Bold&lt;/b&gt; &amp; co" in html
        assert "<script>alert(1)</script>\nline two" in text
        assert f"http://testserver/incidents/{incident.pk}/" in text
        assert "http://testserver/subscriptions/" in text and "/subscriptions/" in html
        assert message["Subject"] == "[Kamustatus] New incident: <b>Bold</b> & co"

    def test_one_connection_carries_a_batch(self, mail_server, settings, db):
        import smtplib

        opened = []
        original = smtplib.SMTP.connect

        def counting(self, *args, **kwargs):
            opened.append(1)
            return original(self, *args, **kwargs)

        confirmed_subscribers(50)
        Incident.open_incident(title="Batch", message="x")
        smtplib.SMTP.connect = counting
        try:
            work()
        finally:
            smtplib.SMTP.connect = original
        assert len(mail_server.messages) == 50
        assert len(opened) == 1

    def test_a_down_mail_server_delays_mail_and_loses_none(self, mail_server, settings, db):
        sink = mail_server
        confirmed_subscribers(30)
        sink.stop()
        Incident.open_incident(title="During the outage", message="x")
        down_until = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < down_until:
            fanout.run("test-worker", budget_seconds=1)
            time.sleep(0.1)
        assert DeliveryAttempt.objects.filter(succeeded=False).exists()
        assert Delivery.objects.filter(status="pending").count() == 30
        sink.start()
        while Delivery.objects.exclude(status="sent").exists():
            fanout.run("test-worker", budget_seconds=1)
            time.sleep(0.05)
        assert sorted(sink.recipients()) == sorted(f"s{n}@example.com" for n in range(30))
        for delivery in Delivery.objects.all():
            attempts = list(delivery.attempts.values_list("succeeded", flat=True))
            assert attempts[-1] is True and attempts.count(True) == 1 and len(attempts) > 1

    def test_a_refused_recipient_is_final_and_the_rest_go(self, mail_server, db):
        class Refusing:
            async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
                if address.startswith("bounce"):
                    return "550 no such user"
                envelope.rcpt_tos.append(address)
                return "250 OK"

        mail_server.handle_RCPT = Refusing().handle_RCPT
        mail_server.stop()
        mail_server.start()
        now = datetime.now(UTC) - timedelta(seconds=1)
        for address in ("bounce@example.com", "fine@example.com"):
            Subscriber.objects.create(email=address, confirmed_at=now)
        Incident.open_incident(title="Refused", message="x")
        work()
        assert mail_server.recipients() == ["fine@example.com"]
        failed = Delivery.objects.get(status="failed")
        assert failed.attempt_count == 1 and "550" in failed.last_error


@pytest.fixture
def receiver():
    with running_receiver() as received:
        yield received


class TestWebhooks:
    def test_a_webhook_subscriber_gets_signed_events(self, api, settings, receiver, monitors):
        settings.CHECKS_ALLOW_PRIVATE = True
        created = api(
            "POST", "/api/subscribers", {"webhookUrl": receiver.url, "monitorIds": ["mon_api"]}
        )
        assert created.status_code == 201, created.content
        body = created.json()
        secret = body.pop("webhookSecret")
        assert list(body) == ["id", "webhookUrl", "monitorIds", "confirmed", "createdAt"]
        assert body["confirmed"] is True and body["monitorIds"] == ["mon_api"]
        assert created["Location"].endswith(f"/api/subscribers/{body['id']}")
        assert secret not in api("GET", f"/api/subscribers/{body['id']}").content.decode()
        Incident.open_incident(title="Web only", message="x", monitor_ids=["mon_web"])
        incident = Incident.open_incident(title="API", message="x", monitor_ids=["mon_api"])
        work()
        assert len(receiver.requests) == 1
        headers, raw = receiver.requests[0]
        assert signing.verify(secret, headers[signing.HEADER], raw)
        payload = json.loads(raw)
        assert list(payload) == ["id", "type", "occurredAt", "incident"]
        assert payload["type"] == "incident.created"
        assert payload["incident"] == Incident.objects.with_timeline().get(pk=incident.pk).to_dict()

    def test_a_failing_receiver_is_retried(self, api, settings, receiver, db):
        settings.CHECKS_ALLOW_PRIVATE = True
        settings.SUBSCRIBER_RETRY_DELAYS = [0]
        api("POST", "/api/subscribers", {"webhookUrl": receiver.url})
        receiver.statuses = [503]
        Incident.open_incident(title="Retry", message="x")
        work()
        assert len(receiver.requests) == 2
        delivery = Delivery.objects.get()
        assert delivery.status == "sent"
        assert list(delivery.attempts.values_list("error", flat=True)) == ["HTTP 503", ""]

    def test_private_addresses_are_refused(self, api, settings, db):
        settings.CHECKS_ALLOW_PRIVATE = False
        for url in ("http://127.0.0.1:9/x", "http://10.0.0.1/x", "http://[::1]/x", "ftp://a.b/"):
            response = api("POST", "/api/subscribers", {"webhookUrl": url})
            assert response.status_code == 400, url
            assert "webhookUrl" in response.json()["error"]["fields"]
        assert not Subscriber.objects.exists()


class TestApi:
    def test_add_list_get_delete(self, api, mail_server, monitors):
        created = api("POST", "/api/subscribers", {"email": "ops@Example.COM"})
        assert created.status_code == 201
        body = created.json()
        assert body == {
            "id": body["id"],
            "email": "ops@example.com",
            "monitorIds": [],
            "confirmed": False,
            "createdAt": body["createdAt"],
        }
        work()
        assert mail_server.recipients() == ["ops@example.com"]  # the confirmation
        skipped = api(
            "POST",
            "/api/subscribers",
            {"email": "team@example.com", "skipConfirmation": True, "monitorIds": ["mon_web"]},
        )
        assert skipped.json()["confirmed"] is True
        work()
        assert len(mail_server.messages) == 1  # no confirmation for it
        listed = api("GET", "/api/subscribers").json()
        assert [s["email"] for s in listed] == ["team@example.com", "ops@example.com"]
        assert api("GET", f"/api/subscribers/{body['id']}").json() == body
        assert api("DELETE", f"/api/subscribers/{body['id']}").status_code == 204
        assert api("GET", f"/api/subscribers/{body['id']}").status_code == 404

    def test_bad_bodies(self, api, db):
        cases = [
            ({}, {"email", "webhookUrl"}),
            (
                {"email": "a@example.com", "webhookUrl": "https://x.example"},
                {"email", "webhookUrl"},
            ),
            ({"email": "nope"}, {"email"}),
            ({"email": "a@example.com", "monitorIds": ["mon_nope"]}, {"monitorIds"}),
            ({"email": "a@example.com", "confirmed": True}, {"confirmed"}),
            ({"webhookUrl": "https://x.example", "skipConfirmation": True}, {"skipConfirmation"}),
        ]
        for body, fields in cases:
            response = api("POST", "/api/subscribers", body)
            assert response.status_code == 400, body
            assert set(response.json()["error"]["fields"]) == fields, body
        assert not Subscriber.objects.exists()

    def test_an_address_already_subscribed_is_a_conflict(self, api, db):
        api("POST", "/api/subscribers", {"email": "a@example.com"})
        again = api("POST", "/api/subscribers", {"email": "A@example.com"})
        assert again.status_code == 409
        assert Subscriber.objects.count() == 1

    def test_it_needs_a_key_and_answers_405(self, api, db):
        assert api("GET", "/api/subscribers", key=None).status_code == 401
        response = api("PATCH", "/api/subscribers/sub_x", {})
        assert response.status_code == 405 and response["Allow"] == "GET, DELETE"


class TestAdmin:
    def test_search_export_and_send_a_test(self, admin_client, mail_server):
        confirmed = Subscriber.objects.add_email("alice@example.com", skip_confirmation=True)
        Subscriber.objects.add_email("bob@example.com")
        changelist = reverse("admin:subscribers_subscriber_changelist")
        found = admin_client.get(changelist, {"q": "alice"}).content.decode()
        assert "alice@example.com" in found and "bob@example.com" not in found
        exported = admin_client.post(
            changelist,
            {"action": "export_csv", "_selected_action": [s.pk for s in Subscriber.objects.all()]},
        )
        rows = list(csv.reader(io.StringIO(exported.content.decode())))
        assert rows[0] == ["id", "email", "webhookUrl", "monitorIds", "confirmed", "createdAt"]
        assert sorted(row[1] for row in rows[1:]) == ["alice@example.com", "bob@example.com"]
        admin_client.post(changelist, {"action": "send_test", "_selected_action": [confirmed.pk]})
        work()
        subjects = {str(m["To"]): str(m["Subject"]) for m in mail_server.messages}
        assert subjects["alice@example.com"] == "[Kamustatus] Test notification"
        deliveries = admin_client.get(reverse("admin:subscribers_delivery_changelist"))
        assert deliveries.status_code == 200 and "Test" in deliveries.content.decode()

    def test_the_notify_checkbox_is_on_by_default_and_can_be_unticked(self, admin_client, db):
        from tests.admin_forms import change_incident

        incident = Incident.open_incident(title="Typo", message="first")
        Event.objects.all().delete()
        url = reverse("admin:incidents_incident_change", args=[incident.pk])
        form = admin_client.get(url).content.decode()
        assert re.search(r'<input type="checkbox" name="notify"[^>]*checked', form)
        # Unticked: a checkbox sends nothing (the page's form has it ticked).
        response = change_incident(admin_client, incident, message="fixed a typo", notify=[])
        assert response.status_code == 302
        assert Incident.objects.get(pk=incident.pk).updates.count() == 2
        assert not Event.objects.exists()
        assert (
            change_incident(admin_client, incident, message="news", notify="on").status_code == 302
        )
        assert list(Event.objects.values_list("type", flat=True)) == ["incident.updated"]


class TestMailLanguage:
    """The worker writes mails in the page's default language (no visitor to ask)."""

    def test_mails_are_in_the_pages_default_language(
        self, client, mail_server, monitors, settings, make_incident
    ):
        settings.KAMUSTATUS_PAGE_LANGUAGE = "de"
        subscribe(client, "neu@example.com")
        work()
        confirmation = mail_server.messages[-1]
        assert str(confirmation["Subject"]) == "[Kamustatus] Abonnement bestätigen"
        text = confirmation.get_body(preferencelist=("plain",)).get_content()
        assert "Abonnement bestätigen (der Link gilt 48 Stunden):" in text
        html = confirmation.get_body(preferencelist=("html",)).get_content()
        assert '<html lang="de">' in html and "Nicht Sie?" in html

        confirmed_subscribers(1)
        make_incident(title="Kasse langsam", message="Wir prüfen das.", monitor_ids=["mon_api"])
        work()
        event = next(m for m in mail_server.messages if str(m["To"]) == "s0@example.com")
        assert str(event["Subject"]) == "[Kamustatus] Neue Störung: Kasse langsam"
        text = event.get_body(preferencelist=("plain",)).get_content()
        assert "Status: Wird untersucht" in text and "Betrifft: API" in text
        assert "Abonnement verwalten oder abbestellen:" in text
