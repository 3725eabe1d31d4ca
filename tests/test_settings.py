"""Settings come from the environment only, strictly."""

import os

import pytest

from tests.servers import manage


def django_check(**env):
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    base.update(env)
    return manage(base, "check", check=False)


def test_it_refuses_to_start_without_a_secret_key_in_production():
    result = django_check(DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_debug_has_a_development_default_key():
    assert django_check(DEBUG="1").returncode == 0


def test_debug_must_be_a_clear_boolean():
    result = django_check(DEBUG="yes", SECRET_KEY="x")
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
