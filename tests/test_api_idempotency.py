"""Idempotency-Key on every POST, as CONTRACT.md says: one write for repeated
or parallel retries, 422 for a reused key with another body, 409 while the
first is in progress, per API key, for 24 hours."""

import json
import sqlite3
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import OperationalError, connections
from django.test import Client
from django.utils import timezone

from incidents import idempotency
from incidents.api.openapi import build_document
from incidents.idempotency import IdempotencyKey
from incidents.models import ApiKey, Incident, Monitor

pytestmark = pytest.mark.django_db

NEW = {"title": "Checkout is failing", "message": "We are looking into it."}

ENGINE = settings.DATABASES["default"]["ENGINE"]


def post(api, body=NEW, key="retry-1", path="/api/incidents", key_for_api=None):
    headers = {} if key is None else {"Idempotency-Key": key}
    if key_for_api is not None:
        return api("POST", path, body, key=key_for_api, **headers)
    return api("POST", path, body, **headers)


def test_a_repeat_gets_the_first_answer_and_writes_nothing(api):
    first = post(api)
    assert first.status_code == 201
    again = post(api)
    assert again.status_code == 201
    assert again.content == first.content
    assert again["Location"] == first["Location"]
    assert again["Content-Type"] == "application/json"
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Incident.objects.count() == 1


def test_without_the_header_every_post_writes(api):
    assert post(api, key=None).status_code == 201
    assert post(api, key=None).status_code == 201
    assert Incident.objects.count() == 2


def in_progress_claim(api_key, created_at=None):
    """A claim on "retry-1" for POSTing NEW, as a request still running holds it;
    returns the body to send."""
    body = json.dumps(NEW).encode()
    IdempotencyKey.objects.create(
        api_key=api_key,
        key="retry-1",
        request_hash=idempotency.fingerprint("POST", "/api/incidents", body),
        created_at=created_at or timezone.now(),
    )
    return body


def test_the_same_key_with_another_body_is_refused(api):
    assert post(api).status_code == 201
    other = post(api, {**NEW, "title": "Something else"})
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    # Another operation is another request too.
    monitor = post(api, {"name": "API"}, path="/api/monitors")
    assert monitor.status_code == 422
    assert Incident.objects.count() == 1
    assert not Monitor.objects.exists()


def test_a_repeat_while_the_first_is_in_progress_gets_409(api, api_key):
    body = in_progress_claim(api_key[0])
    response = api("POST", "/api/incidents", body, **{"Idempotency-Key": "retry-1"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert "still in progress" in response.json()["error"]["message"]
    assert not Incident.objects.exists()


def test_keys_are_per_api_key(api):
    _, other_key = ApiKey.objects.create_key("another bot")
    assert post(api).status_code == 201
    assert post(api, key="retry-1", key_for_api=other_key).status_code == 201
    assert Incident.objects.count() == 2


@pytest.mark.parametrize("value", ["", "x" * 256, "clé", "tab\there", "bell\x07"])
def test_a_malformed_key_is_a_validation_error(client, raw_key, value):
    # Built by hand: the test client would refuse some of these header values.
    response = client.generic(
        "POST",
        "/api/incidents",
        json.dumps(NEW),
        content_type="application/json",
        HTTP_X_API_KEY=raw_key,
        HTTP_IDEMPOTENCY_KEY=value,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"] == {"Idempotency-Key": "Send 1 to 255 printable ASCII characters."}
    assert not Incident.objects.exists()


@pytest.mark.parametrize("value", ["a", "x" * 255, "~ !\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}"])
def test_any_printable_ascii_key_of_1_to_255_is_accepted(api, value):
    assert post(api, key=value).status_code == 201
    assert post(api, key=value).status_code == 201
    assert Incident.objects.count() == 1


def test_an_answer_refusing_the_body_is_replayed_too(api):
    bad = post(api, {"title": "No message"})
    assert bad.status_code == 400
    assert post(api, {"title": "No message"}).content == bad.content
    assert IdempotencyKey.objects.get().status == 400


def test_an_answer_inviting_a_retry_is_not_kept(api, make_monitor):
    make_monitor(id="mon_taken")
    body = {"id": "mon_taken", "name": "Taken"}
    assert post(api, body, path="/api/monitors").status_code == 409
    assert not IdempotencyKey.objects.exists()
    Monitor.objects.filter(pk="mon_taken").delete()
    assert post(api, body, path="/api/monitors").status_code == 201


def test_a_failure_midway_releases_the_key_and_writes_nothing(api, monkeypatch):
    def broken(**kwargs):
        raise OperationalError("the database went away")

    with monkeypatch.context() as patched:
        patched.setattr(Incident, "open_incident", broken)
        assert post(api).status_code == 503
    assert not IdempotencyKey.objects.exists()
    assert post(api).status_code == 201
    assert Incident.objects.count() == 1


def test_after_24_hours_the_key_is_forgotten(api):
    with time_machine.travel(timezone.now() - timedelta(hours=24, seconds=1)):
        first = post(api)
    again = post(api)
    assert again.status_code == 201
    assert again.content != first.content
    assert Incident.objects.count() == 2


def test_expired_keys_are_purged_when_new_ones_are_claimed(api, api_key):
    now = timezone.now()
    IdempotencyKey.objects.bulk_create(
        IdempotencyKey(
            api_key=api_key[0],
            key=f"old-{n}",
            request_hash="0" * 64,
            created_at=now - timedelta(hours=25),
            status=201,
        )
        for n in range(idempotency.PURGE_BATCH + 5)
    )
    assert post(api, key="new").status_code == 201
    # Bounded: one batch per claim.
    assert IdempotencyKey.objects.filter(key__startswith="old-").count() == 5
    assert post(api, key="newer").status_code == 201
    assert set(IdempotencyKey.objects.values_list("key", flat=True)) == {"new", "newer"}


def test_an_abandoned_claim_is_taken_over(api, api_key):
    body = in_progress_claim(
        api_key[0], timezone.now() - idempotency.ABANDONED_AFTER - timedelta(seconds=1)
    )
    response = api("POST", "/api/incidents", body, **{"Idempotency-Key": "retry-1"})
    assert response.status_code == 201
    assert Incident.objects.count() == 1


def test_a_write_whose_claim_was_taken_over_is_rolled_back(api, monkeypatch):
    original = idempotency.Claim.finish

    def taken_over(claim, *args):
        IdempotencyKey.objects.filter(pk=claim.record.pk).delete()
        return original(claim, *args)

    monkeypatch.setattr(idempotency.Claim, "finish", taken_over)
    response = post(api)
    assert response.status_code == 409
    assert not Incident.objects.exists()


def test_the_openapi_document_names_the_header_on_every_post():
    document = build_document()
    posts = [item["post"] for item in document["paths"].values() if "post" in item]
    assert posts
    for operation in posts:
        assert {"name": "Idempotency-Key", "in": "header"}.items() <= next(
            p for p in operation["parameters"] if p.get("name") == "Idempotency-Key"
        ).items()
        assert {"409", "422"} <= set(operation["responses"])
    assert "idempotency_key_reused" in json.dumps(document["components"]["responses"])


# --- Parallel retries, for real ---------------------------------------------------


def parallel_answers(send, count=12):
    start = threading.Barrier(count)

    def attempt(_):
        start.wait(timeout=30)
        return send()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(attempt, range(count)))


def check_one_write(answers):
    statuses = sorted(status for status, _ in answers)
    assert set(statuses) <= {201, 409}, statuses
    created = {body for status, body in answers if status == 201}
    assert len(created) == 1, "every 201 is the same answer"
    conflicts = [json.loads(body)["error"]["code"] for status, body in answers if status == 409]
    assert set(conflicts) <= {"conflict"}
    return json.loads(created.pop())


@pytest.mark.skipif("postgresql" not in ENGINE, reason="threads on one server: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_parallel_retries_write_once_on_postgresql(raw_key):
    def send():
        try:
            response = Client().post(
                "/api/incidents",
                json.dumps(NEW),
                content_type="application/json",
                headers={"x-api-key": raw_key, "Idempotency-Key": "parallel"},
            )
            return response.status_code, response.content
        finally:
            connections.close_all()

    created = check_one_write(parallel_answers(send))
    assert list(Incident.objects.values_list("id", flat=True)) == [created["id"]]
    # Once the first has finished, every retry gets its answer.
    status, body = send()
    assert (status, json.loads(body)) == (201, created)


@pytest.mark.slow
@pytest.mark.skipif("sqlite3" not in ENGINE, reason="two gunicorn workers on one SQLite file")
def test_parallel_retries_through_two_gunicorn_workers_write_once(gunicorn):  # noqa: F811
    def send():
        request = urllib.request.Request(
            f"{gunicorn.base}/incidents",
            data=json.dumps(NEW).encode(),
            method="POST",
            headers={
                "x-api-key": gunicorn.key,
                "Content-Type": "application/json",
                "Idempotency-Key": "parallel",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    created = check_one_write(parallel_answers(send))
    with sqlite3.connect(gunicorn.database) as db:
        assert db.execute("SELECT id FROM incidents_incident").fetchall() == [(created["id"],)]
        assert db.execute("SELECT COUNT(*) FROM incidents_incidentupdate").fetchone() == (1,)
    status, body = send()
    assert (status, json.loads(body)) == (201, created)
