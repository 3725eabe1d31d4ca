"""Stored pages: reused while nothing they show changes, rebuilt the moment
something does, and cheap to ask about again (ETag, Last-Modified)."""

import gzip
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.cache import generation, store
from incidents.cache.pages import PAGES, page_key
from incidents.models import Incident, Monitor
from tests import writes

T0 = datetime(2025, 6, 1, 2, 0, tzinfo=UTC)

USES_DATABASE_CACHE = settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache")
# Reading the generation and the stored page is one round trip: one query with
# the database cache, none with Redis.
ONE_ROUND_TRIP = 1 if USES_DATABASE_CACHE else 0


@pytest.fixture(autouse=True)
def fresh_pages(db):
    """No page stored by an earlier test is served: with Redis the cache
    outlives each test's rolled-back transaction. (Not ``generation.bump()``:
    inside the test's transaction it defers to the commit that never comes.)"""
    writes.committed()


@pytest.fixture
def api_monitor(make_monitor):
    return make_monitor(id="mon_abc123", name="API")


def test_a_repeated_conditional_get_is_answered_304(client, api_monitor):
    first = client.get("/")
    assert first.status_code == 200
    assert first["ETag"].startswith('"')
    assert first["Cache-Control"] == "no-cache"
    again = client.get("/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]


def test_a_weak_or_listed_etag_also_matches(client, api_monitor):
    etag = client.get("/")["ETag"]
    assert client.get("/", HTTP_IF_NONE_MATCH=f'"other", W/{etag}').status_code == 304


def test_if_modified_since_is_answered_304_until_a_change(client, api_monitor):
    first = client.get("/")
    since = first["Last-Modified"]
    assert client.get("/", HTTP_IF_MODIFIED_SINCE=since).status_code == 304
    api_monitor.report_status(Monitor.DOWN)
    changed = client.get("/", HTTP_IF_MODIFIED_SINCE=since)
    assert changed.status_code == 200
    assert b"Partial outage" in changed.content or b"Major outage" in changed.content


def test_a_write_shows_on_the_very_next_request_with_a_new_etag(client, api_monitor):
    first = client.get("/")
    Incident.open_incident(title="Fresh incident", message="Just now.")
    after = client.get("/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert after.status_code == 200
    assert b"Fresh incident" in after.content
    assert after["ETag"] != first["ETag"]


def test_a_bulk_write_that_bumps_the_generation_shows_too(client, api_monitor):
    client.get("/")
    Monitor.objects.filter(pk="mon_abc123").update(name="Renamed API")
    generation.bump()  # what a bulk write must do (outside a transaction: at once)
    cache.set(generation.KEY, "as-after-the-commit", None)
    assert b"Renamed API" in client.get("/").content


def test_a_page_stored_under_an_older_generation_is_not_served(client, api_monitor):
    """What another worker stored before a write is never shown after it."""
    client.get("/")
    stored = cache.get_many([page_key("status:en"), PAGES.summary_key("status:en")])
    Incident.open_incident(title="Written elsewhere", message="x")
    cache.set_many(stored, None)  # a slow worker stores its old copy late
    assert b"Written elsewhere" in client.get("/").content


def test_the_rendered_page_lives_in_the_shared_cache(client, api_monitor):
    client.get("/")
    client.get("/", HTTP_HX_REQUEST="true")
    token = cache.get(generation.KEY)
    assert cache.get(page_key("status:en"))[0] == token
    assert cache.get(page_key("status:live:en"))[0] == token


def test_the_page_is_kept_compressed_and_compressed_once_per_version(
    client, api_monitor, monkeypatch
):
    """The shared cache holds the page gzip-compressed, as the worker that
    rendered it compressed it: another worker fetches that small copy and
    sends it to a browser without compressing the page again."""
    plain = client.get("/").content
    stored = cache.get(page_key("status:en"))[-1]
    assert gzip.decompress(stored) == plain and len(stored) < len(plain) / 3
    PAGES.kept.clear()  # as in another worker
    PAGES.packs.clear()

    def compress(*args, **kwargs):
        raise AssertionError("the page was compressed again")

    monkeypatch.setattr(store.gzip, "compress", compress)
    packed = client.get("/", HTTP_ACCEPT_ENCODING="gzip")
    assert packed["Content-Encoding"] == "gzip" and packed.content == stored
    PAGES.kept.clear()
    PAGES.packs.clear()
    assert client.get("/").content == plain  # and unpacked for a client without gzip


def test_an_unchanged_page_costs_one_round_trip_and_no_rendering(
    client, api_monitor, django_assert_num_queries
):
    first = client.get("/")
    assert first.templates, "the first request renders"
    with django_assert_num_queries(ONE_ROUND_TRIP):
        again = client.get("/")
    assert again.content == first.content
    assert again.templates == []
    with django_assert_num_queries(ONE_ROUND_TRIP):
        assert client.get("/", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


def test_cached_pages_carry_no_nonce(client, api_monitor):
    response = client.get("/")
    assert "nonce" not in response["Content-Security-Policy"]
    assert b"nonce" not in response.content
    assert "script-src 'self'" in response["Content-Security-Policy"]


def make_history(count, start, title="Past incident"):
    for n in range(count):
        at = start - timedelta(hours=6 * n)
        incident = Incident.open_incident(
            title=f"{title} {n}", message="Investigating.", monitor_ids=["mon_abc123"], at=at
        )
        incident.post_update("identified", "Found it.", at=at + timedelta(minutes=5))
        incident.resolve("Fixed.", at=at + timedelta(minutes=30))


def new_generation():
    """What any write does: the stored pages no longer count."""
    writes.committed()


def queries_for(client, url):
    new_generation()  # make sure the page is built afresh
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("url", ["/", "/history/", "/feed.rss", "/feed.atom"])
def test_building_a_page_takes_as_many_queries_with_200_incidents_as_with_1(
    client, api_monitor, url, django_assert_num_queries
):
    with time_machine.travel(T0, tick=False):
        make_history(1, T0 - timedelta(hours=1))
        queries_for(client, url)  # the monitors' closed days read once (then kept)
        with_one = queries_for(client, url)
        make_history(199, T0 - timedelta(hours=2), title="Older incident")
        assert Incident.objects.count() == 200
        new_generation()
        with django_assert_num_queries(with_one):
            response = client.get(url)
        assert b"Past incident 0" in response.content
        assert b"Older incident 0" in response.content


# --- The stored status page, answered before the rest of the stack ---------------


def test_a_stored_page_answered_early_has_the_same_headers_as_a_rendered_one(client, api_monitor):
    rendered = client.get("/")
    assert rendered.templates, "the first request goes to the view"
    early = client.get("/")
    assert early.templates == []
    assert early.content == rendered.content
    for header in (
        "Content-Type",
        "Content-Length",
        "ETag",
        "Last-Modified",
        "Cache-Control",
        "Vary",
        "Content-Security-Policy",
        "X-Frame-Options",
        "X-Content-Type-Options",
        "Referrer-Policy",
    ):
        assert early[header] == rendered[header], header
    assert not early.cookies


def test_a_host_that_is_not_allowed_is_refused_even_for_a_stored_page(client, api_monitor):
    assert client.get("/").status_code == 200
    assert client.get("/", HTTP_HOST="evil.example").status_code == 400


def test_when_the_cache_fails_the_page_still_goes_through_the_view(
    client, api_monitor, monkeypatch
):
    from incidents.cache import middleware

    client.get("/")

    def broken(*args, **kwargs):
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(middleware, "stored_response", broken)
    response = client.get("/")
    assert response.status_code == 200
    assert b"All systems operational" in response.content


def test_after_the_stored_lookup_failed_the_view_does_not_ask_the_cache_again(
    client, api_monitor, monkeypatch
):
    """A cache that hangs costs one timeout per visit, not two: the view
    renders at once when the middleware's lookup has just failed."""
    from incidents.cache import middleware, store

    def broken(*args, **kwargs):
        raise ConnectionError("cache unreachable")

    lookups = []
    original = store.Shelf.lookup
    monkeypatch.setattr(middleware, "stored_response", broken)
    monkeypatch.setattr(
        store.Shelf, "lookup", lambda shelf, name: lookups.append(name) or original(shelf, name)
    )
    response = client.get("/")
    assert response.status_code == 200
    assert b"All systems operational" in response.content
    assert lookups == []


def test_bytes_kept_by_a_process_are_never_served_once_the_page_changed(client, api_monitor):
    # A frozen clock: the page's "Last updated" time stays the same too.
    with time_machine.travel(api_monitor.updated_at, tick=False):
        first = client.get("/")
        api_monitor.report_status(Monitor.DEGRADED)
        changed = client.get("/")
        assert changed["ETag"] != first["ETag"]
        assert b"Degraded performance" in changed.content
        # Back to the first state: the same bytes, hence the same ETag, are fine.
        api_monitor.report_status(Monitor.OPERATIONAL)
        assert client.get("/").content == first.content


def test_bytes_come_from_the_shared_cache_when_this_process_has_none(client, api_monitor):
    first = client.get("/")
    PAGES.kept.clear()  # as in another worker
    again = client.get("/", HTTP_IF_NONE_MATCH='"something-else"')
    assert again.status_code == 200
    assert again.content == first.content
    assert again.templates == []


class TestOneRendererAfterAWrite:
    """After a write, one worker renders; the others wait for its copy."""

    @pytest.fixture
    def request_(self, rf):
        return rf.get("/some-page/")

    def test_a_waiter_takes_the_copy_another_worker_renders(self, request_, monkeypatch):
        from incidents.cache import pages as rendering
        from incidents.cache import store
        from incidents.cache.store import Rendered

        token = generation.current()
        assert cache.add(rendering.PAGES.claim_key("p", token), 1, 10)  # another worker
        own_builds = []

        def other_worker_finishes(seconds):
            rendering.PAGES.build("p", token, lambda now: Rendered(b"rendered elsewhere"))

        monkeypatch.setattr(store.time, "sleep", other_worker_finishes)
        response = rendering.serve(
            request_, "p", lambda now: own_builds.append(now) or Rendered(b"mine")
        )
        assert response.content == b"rendered elsewhere"
        assert own_builds == []

    def test_a_waiter_takes_the_copy_of_the_generation_it_read_though_a_write_landed_since(
        self, request_, monkeypatch
    ):
        """The write came after the request did: the copy of the generation
        the request read is as fresh as it needs (the next request sees the
        write). During a refresh storm every render is outdated by the time
        it is done; waiting for one of the newest generation, waiters waited
        out the whole wait and then all rendered."""
        from incidents.cache import pages as rendering
        from incidents.cache import store
        from incidents.cache.store import Rendered

        old = generation.current()
        assert cache.add(rendering.PAGES.claim_key("p", old), 1, 10)  # another worker renders
        sleeps, own_builds = [], []

        def the_render_finishes_and_a_write_lands(seconds):
            sleeps.append(seconds)
            if len(sleeps) == 1:
                rendering.PAGES.build("p", old, lambda now: Rendered(b"old"))
                writes.committed()

        monkeypatch.setattr(store.time, "sleep", the_render_finishes_and_a_write_lands)
        response = rendering.serve(
            request_, "p", lambda now: own_builds.append(now) or Rendered(b"new")
        )
        assert response.content == b"old"
        assert own_builds == []
        # The next request came after the write: it never takes that copy.
        assert rendering.serve(request_, "p", lambda now: Rendered(b"new")).content == b"new"

    def test_a_waiter_never_takes_a_copy_of_a_generation_older_than_its_own(
        self, request_, monkeypatch
    ):
        from incidents.cache import pages as rendering
        from incidents.cache import store
        from incidents.cache.store import Rendered

        old = generation.current()
        writes.committed()  # a write, before the request
        new = generation.current()
        assert cache.add(rendering.PAGES.claim_key("p", new), 1, 10)  # another worker renders
        sleeps = []

        def a_slow_render_of_the_old_generation_lands(seconds):
            sleeps.append(seconds)
            if len(sleeps) == 1:
                rendering.PAGES.build("p", old, lambda now: Rendered(b"old"))
                cache.delete(rendering.PAGES.claim_key("p", new))  # that worker gave up

        monkeypatch.setattr(store.time, "sleep", a_slow_render_of_the_old_generation_lands)
        response = rendering.serve(request_, "p", lambda now: Rendered(b"new"))
        assert response.content == b"new"

    def test_a_waiter_renders_itself_when_the_claim_outlives_the_wait(self, request_, monkeypatch):
        from incidents.cache import pages as rendering
        from incidents.cache import store
        from incidents.cache.store import Rendered

        token = generation.current()
        assert cache.add(rendering.PAGES.claim_key("p", token), 1, 10)  # never finishes
        clock = [0.0]
        monkeypatch.setattr(store.time, "monotonic", lambda: clock[0])
        monkeypatch.setattr(
            store.time, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds)
        )
        response = rendering.serve(request_, "p", lambda now: Rendered(b"mine"))
        assert response.content == b"mine"
        assert clock[0] >= store.RENDER_WAIT_SECONDS

    @pytest.mark.django_db(transaction=True)
    def test_a_workers_threads_wait_for_one_of_them_instead_of_polling(self, monkeypatch, settings):
        """A storm: after each write a worker's threads all want the page at
        once. One of them gets it; the others wait for that thread instead of
        asking the shared cache every few milliseconds meanwhile."""
        import threading
        import time

        from django.db import connections

        from incidents.cache.store import Rendered, Shelf

        # What the threads of one process do between them, on a cache that
        # threads can share: SQLite's in-memory test database refuses a
        # read while another thread writes ("table is locked"), which reads
        # as a cache outage and makes every thread build on its own.
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

        shelf = Shelf(
            "test:waits:",
            summary_prefix="test:waits-summary:",
            timeout=60,
            what="test",
            kept_per_process=4,
            one_renderer=True,
        )
        lookups, builds, answers = [], [], []
        looked_up = shelf.current
        monkeypatch.setattr(shelf, "current", lambda *args: lookups.append(1) or looked_up(*args))

        def render(now):
            builds.append(now)
            time.sleep(0.3)
            return Rendered(b"the page")

        visitors = 8
        start = threading.Barrier(visitors)

        def visit():
            start.wait()
            try:
                answers.append(shelf.get_or_build("p", render).body)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=visit) for _ in range(visitors)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert answers == [b"the page"] * visitors
        assert len(builds) == 1
        # Each looked once, and the waiters once more when the page was there
        # (polling every 10 ms for 0.3 s would be some 30 lookups each).
        assert len(lookups) <= 2 * visitors

    def test_the_claim_is_released_after_rendering(self, request_):
        from incidents.cache import pages as rendering
        from incidents.cache.store import Rendered

        token = generation.current()
        rendering.serve(request_, "p", lambda now: Rendered(b"mine"))
        assert cache.get(rendering.PAGES.claim_key("p", token)) is None
