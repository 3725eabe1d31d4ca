"""Settings come from the environment only, strictly."""

import os
import secrets

import pytest

from tests.servers import ROOT, manage


def django_check(**env):
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    base.update(env)
    return manage(base, "check", check=False)


def test_it_refuses_to_start_without_a_secret_key_in_production():
    result = django_check(DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize(
    "weak",
    [
        "x",
        "ab" * 25,  # 50 characters, 2 different ones
        secrets.token_urlsafe(30),  # 40 characters
        "django-insecure-" + secrets.token_urlsafe(50),
    ],
    # Named, not shown: the same names in every process (pytest-xdist), and
    # no key in the output.
    ids=["one character", "two characters", "40 characters", "django-insecure prefix"],
)
def test_it_refuses_a_weak_secret_key_in_production(weak):
    result = django_check(DEBUG="0", SECRET_KEY=weak)
    assert result.returncode != 0
    assert "SECRET_KEY is too weak for production: use at least 50 characters" in result.stderr
    assert len(weak) < 8 or weak not in result.stderr  # the key is never echoed


def test_the_generated_and_the_test_keys_are_strong_enough():
    makefile = (ROOT / "Makefile").read_text()
    assert "secrets.token_urlsafe(50)" in makefile  # `make run`'s .secret-key
    test_key = makefile.split("SECRET_KEY=$${SECRET_KEY:-", 1)[1].split("}", 1)[0]
    for key in (secrets.token_urlsafe(50), test_key):
        assert django_check(DEBUG="0", SECRET_KEY=key).returncode == 0


def test_a_weak_key_is_fine_with_debug_on():
    assert django_check(DEBUG="1", SECRET_KEY="x").returncode == 0


@pytest.mark.parametrize("value", ["1", "10.0.0.300", "proxy.example.com"])
def test_trusted_proxies_must_be_addresses(value):
    result = django_check(DEBUG="1", TRUSTED_PROXIES=value)
    assert result.returncode != 0
    assert "TRUSTED_PROXIES must be a comma-separated list" in result.stderr


def test_trusted_proxies_are_parsed_as_networks():
    result = django_check(DEBUG="1", TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8,::1")
    assert result.returncode == 0, result.stderr


def test_debug_has_a_development_default_key():
    assert django_check(DEBUG="1").returncode == 0


def test_debug_must_be_a_clear_boolean():
    result = django_check(DEBUG="yes", SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode != 0
    assert "DEBUG must be 1, 0, true or false" in result.stderr


def test_sqlite_is_tuned_for_several_writers(settings, db):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] == 30000
    assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
