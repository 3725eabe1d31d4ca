"""Brute force: failed API keys and failed admin sign-ins are limited per client
address (429 with Retry-After); form bodies are bounded."""

import ipaddress
import json
import secrets
import sys

import pytest
import time_machine
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.9"
NEIGHBOUR = "198.51.100.7"


@pytest.fixture(autouse=True)
def small_limits(settings, monkeypatch):
    settings.AUTH_FAILURE_LIMIT = 3
    settings.AUTH_FAILURE_WINDOW = 300
    settings.TRUSTED_PROXIES = []
    # Addresses of their own: with REDIS_URL the counters outlive a test.
    module = sys.modules[__name__]
    for name in ("ATTACKER", "NEIGHBOUR"):
        address = f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"
        monkeypatch.setattr(module, name, address)


@pytest.fixture
def traveller():
    # A fixed start well inside a window, so the test never straddles an edge.
    with time_machine.travel("2026-03-01T12:00:10Z", tick=False) as traveller:
        yield traveller


def get_incidents(client, key, address=None, forwarded_for=None):
    extra = {"REMOTE_ADDR": address or ATTACKER}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client.get("/api/incidents", headers={"x-api-key": key}, **extra)


def wrong_key(raw):
    return raw[:-6] + "AAAAAA"


def test_failed_keys_are_refused_per_address_until_the_window_ends(client, raw_key, traveller):
    for _ in range(3):
        assert get_incidents(client, wrong_key(raw_key)).status_code == 401

    blocked = get_incidents(client, wrong_key(raw_key))
    assert blocked.status_code == 429
    assert blocked.headers["Content-Type"] == "application/json"
    error = json.loads(blocked.content)["error"]
    assert error["code"] == "rate_limited"
    assert int(blocked.headers["Retry-After"]) == 290  # the 300 s window ends 290 s from now
    assert f"{blocked.headers['Retry-After']} seconds" in error["message"]

    # Another address is not affected.
    assert get_incidents(client, wrong_key(raw_key), address=NEIGHBOUR).status_code == 401

    traveller.shift(289)
    assert get_incidents(client, wrong_key(raw_key)).headers["Retry-After"] == "1"
    traveller.shift(2)
    assert get_incidents(client, wrong_key(raw_key)).status_code == 401


def test_a_valid_key_keeps_working_from_a_blocked_address(client, raw_key, traveller):
    for _ in range(4):
        get_incidents(client, wrong_key(raw_key))
    assert get_incidents(client, wrong_key(raw_key)).status_code == 429
    assert get_incidents(client, raw_key).status_code == 200


def test_a_missing_key_is_not_a_guess(client, traveller):
    for _ in range(6):
        response = client.get("/api/incidents", REMOTE_ADDR=ATTACKER)
        assert response.status_code == 401


def test_forwarded_for_is_ignored_without_a_trusted_proxy(client, raw_key, traveller):
    for number in range(4):
        response = get_incidents(client, wrong_key(raw_key), forwarded_for=f"192.0.2.{number}")
    assert response.status_code == 429


def test_behind_a_trusted_proxy_the_address_it_saw_counts(client, raw_key, settings, traveller):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.2")]
    proxy = "10.0.0.2"
    for _ in range(3):
        # The client prepends made-up addresses; the proxy appends the real one.
        spoofed = f"192.0.2.{_}, {ATTACKER}"
        assert (
            get_incidents(client, wrong_key(raw_key), proxy, forwarded_for=spoofed).status_code
            == 401
        )
    assert (
        get_incidents(
            client, wrong_key(raw_key), proxy, forwarded_for=f"192.0.2.77, {ATTACKER}"
        ).status_code
        == 429
    )
    assert (
        get_incidents(client, wrong_key(raw_key), proxy, forwarded_for=NEIGHBOUR).status_code == 401
    )


def test_forwarded_for_is_ignored_from_a_client_that_is_not_a_trusted_proxy(
    client, raw_key, settings, traveller
):
    # A proxy is configured, but this client reaches gunicorn directly: each
    # made-up X-Forwarded-For must not buy it a fresh count.
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    for number in range(4):
        response = get_incidents(client, wrong_key(raw_key), forwarded_for=f"192.0.2.{number}")
    assert response.status_code == 429


def test_through_a_chain_of_trusted_proxies_the_first_untrusted_hop_counts(
    client, raw_key, settings, traveller
):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    for number in range(4):
        # client-written junk, the client (seen by the outer proxy), the outer proxy
        forwarded = f"192.0.2.{number}, {ATTACKER}, 10.1.1.1"
        response = get_incidents(client, wrong_key(raw_key), "10.0.0.2", forwarded_for=forwarded)
    assert response.status_code == 429
    fine = get_incidents(
        client, wrong_key(raw_key), "10.0.0.2", forwarded_for=f"{ATTACKER}, {NEIGHBOUR}, 10.1.1.1"
    )
    assert fine.status_code == 401


class BrokenCache:
    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise ConnectionError("the cache is down")

        return fail


def test_while_the_cache_is_down_failures_are_still_limited(
    client, raw_key, monkeypatch, traveller
):
    from incidents import ratelimit

    monkeypatch.setattr(ratelimit, "cache", BrokenCache())
    for _ in range(3):
        assert get_incidents(client, wrong_key(raw_key)).status_code == 401
    blocked = get_incidents(client, wrong_key(raw_key))
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "290"
    # A valid key still works, and another address is not blocked.
    assert get_incidents(client, raw_key).status_code == 200
    assert get_incidents(client, wrong_key(raw_key), address=NEIGHBOUR).status_code == 401


def test_admin_sign_ins_are_limited_while_the_cache_is_down(
    client, operator, monkeypatch, traveller
):
    from incidents import ratelimit

    monkeypatch.setattr(ratelimit, "cache", BrokenCache())
    for _ in range(3):
        assert sign_in(client, "wrong").status_code == 200
    assert sign_in(client, "correct horse battery").status_code == 429


# --- The admin sign-in ------------------------------------------------------


@pytest.fixture
def operator(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed
    return User.objects.create_superuser("operator", "op@example.com", "correct horse battery")


def sign_in(client, password, address=None):
    address = address or ATTACKER
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": "operator", "password": password},
        REMOTE_ADDR=address,
    )


def test_admin_sign_in_is_limited_per_address(client, operator, traveller):
    for _ in range(3):
        response = sign_in(client, "wrong")
        assert response.status_code == 200
        assert b"Please enter the correct username and password" in response.content

    blocked = sign_in(client, "correct horse battery")
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "290"
    assert b"Too many failed sign-in attempts" in blocked.content
    assert "_auth_user_id" not in client.session

    # The page itself still shows; a neighbour can still sign in.
    assert client.get("/admin/login/", REMOTE_ADDR=ATTACKER).status_code == 200
    assert sign_in(client, "correct horse battery", NEIGHBOUR).status_code == 302

    traveller.shift(291)
    assert sign_in(client, "correct horse battery").status_code == 302


def test_successful_sign_ins_are_not_counted(client, operator, traveller):
    for _ in range(5):
        assert sign_in(client, "correct horse battery").status_code == 302
        client.logout()


def test_form_bodies_are_bounded(client, operator):
    response = client.post("/admin/login/", {"username": "operator", "password": "x" * 300_000})
    assert response.status_code == 400
