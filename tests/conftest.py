from types import SimpleNamespace

import pytest
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.test import override_settings

from incidents.cache import generation, outage, store
from incidents.models import ApiKey, Incident, Monitor
from tests.servers import Site, redis_caches, redis_or_skip


@pytest.fixture(autouse=True)
def last_good_dir(settings, tmp_path):
    """Each test keeps the status page's last good copy in its own directory."""
    settings.KAMUSTATUS_LAST_GOOD_DIR = tmp_path / "last-good"
    outage._keep_failed_at = None  # a directory that failed in another test
    return settings.KAMUSTATUS_LAST_GOOD_DIR


@pytest.fixture(autouse=True)
def no_pending_bump():
    """A bump left pending by a test that broke the cache (or by this process
    starting) must not change the token in the middle of another test."""
    generation._pending, generation._cache_failed_at = False, None
    yield
    generation._pending, generation._cache_failed_at = False, None


@pytest.fixture(autouse=True)
def no_culling_store(monkeypatch):
    """A stored answer culls the cache table once a minute per process (more
    statements than usual, tests/test_stored.py): never in the middle of a
    test that counts queries."""
    monkeypatch.setattr(store, "_cull_due_at", float("inf"))


@pytest.fixture(autouse=True)
def page_settings_read_afresh():
    """Each test's database is rolled back under this process's feet, which
    a server never sees: the page settings it kept go with it."""
    from incidents.appearance.page import forget

    forget()
    yield
    forget()


@pytest.fixture(autouse=True)
def uptime_days_read_afresh():
    """The same for the monitors' closed days the status page keeps, and the
    systems section's data: ids, times and tokens repeat from one test's
    rolled-back database to the next."""
    from incidents.pages.views import forget_systems
    from incidents.uptime.history import forget_kept

    forget_kept()
    forget_systems()
    yield
    forget_kept()
    forget_systems()


@pytest.fixture
def make_monitor(db):
    counter = iter(range(1, 10_000))

    def make(name=None, **fields):
        number = next(counter)
        fields.setdefault("id", f"mon_test{number:03d}")
        return Monitor.create_monitor(name=name or f"Monitor {number}", **fields)

    return make


@pytest.fixture
def make_incident(db):
    def make(title="Something is wrong", message="We are investigating.", **fields):
        return Incident.open_incident(title=title, message=message, **fields)

    return make


@pytest.fixture
def api_key(db):
    """A usable key: (ApiKey, raw key)."""
    return ApiKey.objects.create_key("tests")


@pytest.fixture
def raw_key(api_key):
    return api_key[1]


@pytest.fixture
def api(client, raw_key):
    """Call the keyed API: ``api("POST", "/api/incidents", {"title": ...})``.

    ``body`` is sent as JSON (a str or bytes is sent as is); ``key=None`` sends
    no key; extra keyword arguments are request headers.
    """
    import json

    def call(method, path, body=None, *, key=raw_key, content_type="application/json", **headers):
        if body is None:
            data = b""
        elif isinstance(body, str | bytes):
            data = body
        else:
            data = json.dumps(body)
        if key is not None:
            headers["x-api-key"] = key
        return client.generic(method, path, data, content_type=content_type, headers=headers)

    return call


@pytest.fixture
def fresh_cache(db):
    """An empty shared cache. The database cache is rolled back with each test,
    Redis is not: without this, one test's cached answers leak into the next."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def gunicorn(tmp_path):
    """Two gunicorn workers serving a fresh SQLite file (DEBUG off, as in
    production): ``base`` (the API's URL), ``key``, ``database``, ``env``."""
    site = Site(
        tmp_path,
        workers=2,
        own_static=False,
        ALLOWED_HOSTS="127.0.0.1",
        gunicorn_options=("--timeout", "60", "--log-level", "warning"),
    )
    site.prepare(collectstatic=False)
    site.start(ready_path="/api/openapi.json")
    try:
        yield SimpleNamespace(
            base=site.url + "/api", key=site.api_key, database=site.database, env=site.env
        )
    finally:
        site.stop()


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium, one per test module."""
    from playwright.sync_api import sync_playwright

    from tests.browsers import launch

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture(params=["configured", "redis"])
def shared_cache(request, fresh_cache):
    """The configured shared cache (emptied), then Redis under a prefix of
    its own: for a test that must hold on either."""
    if request.param == "redis":
        if not isinstance(caches["default"], DatabaseCache):
            pytest.skip("the configured cache is Redis already")
        redis_or_skip()
        with override_settings(CACHES=redis_caches()):
            yield request.param
        return
    yield request.param
