"""/healthz as load balancers use it, and /robots.txt."""

import json

from django.db.utils import OperationalError

from incidents import health


def test_healthz_answers_ok_when_the_database_and_the_cache_answer(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok", "database": "ok", "cache": "ok"}
    assert "no-cache" in response["Cache-Control"]  # never kept by a proxy


def test_healthz_names_a_cache_that_does_not_answer(client, db, monkeypatch):
    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(health.cache, "set", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert json.loads(response.content) == {
        "status": "unavailable",
        "database": "ok",
        "cache": "unavailable",
    }
    assert response["Retry-After"]


def test_healthz_names_a_database_that_does_not_answer(client, db, monkeypatch):
    class Unreachable:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(health, "connection", Unreachable())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert json.loads(response.content)["database"] == "unavailable"


def test_healthz_is_asked_afresh_each_time(client, db, monkeypatch):
    assert client.get("/healthz").status_code == 200
    monkeypatch.setattr(health, "cache_state", lambda: health.UNAVAILABLE)
    assert client.get("/healthz").status_code == 503


def test_robots_txt_keeps_crawlers_out_of_the_admin_and_the_keyed_api(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    lines = response.content.decode().splitlines()
    assert "Disallow: /admin/" in lines and "Disallow: /api/" in lines
