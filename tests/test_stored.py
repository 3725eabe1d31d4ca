"""Stored responses (incidents/cache/store.py), the mechanism the status page, the
API and the public JSON share: when a client's copy counts as current, how
Last-Modified moves, and what a cache outage costs."""

import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.test import RequestFactory

from incidents.cache import store
from incidents.cache.store import Rendered, Shelf, Stored, is_not_modified
from tests import writes

T0 = datetime(2025, 6, 1, 2, 0, tzinfo=UTC)
ETAG = '"abc123"'
LAST_MODIFIED = int(T0.timestamp())
factory = RequestFactory()
SHELF = Shelf("test:", timeout=60, what="test")
X = Shelf("test:", timeout=60, what="X")


@pytest.fixture(autouse=True)
def fresh_generation(db):
    # With Redis the cache outlives the test's transaction: start from a new token.
    writes.committed()


@pytest.mark.parametrize(
    "sent",
    [ETAG, f"W/{ETAG}", f'"other", {ETAG}', f'W/"other", W/{ETAG}', "*", " * "],
)
def test_if_none_match_uses_weak_comparison_lists_and_star(sent):
    request = factory.get("/", headers={"If-None-Match": sent})
    assert is_not_modified(request, ETAG)


@pytest.mark.parametrize("sent", ['"other"', 'W/"other", "abc1234"', "abc123"])
def test_another_etag_is_not_current(sent):
    request = factory.get("/", headers={"If-None-Match": sent})
    assert not is_not_modified(request, ETAG, LAST_MODIFIED)


def test_if_none_match_wins_over_if_modified_since():
    request = factory.get(
        "/",
        headers={"If-None-Match": '"other"', "If-Modified-Since": "Sun, 01 Jun 2025 03:00:00 GMT"},
    )
    assert not is_not_modified(request, ETAG, LAST_MODIFIED)


def test_if_modified_since_counts_only_where_the_face_sends_dates():
    same = factory.get("/", headers={"If-Modified-Since": "Sun, 01 Jun 2025 02:00:00 GMT"})
    older = factory.get("/", headers={"If-Modified-Since": "Sun, 01 Jun 2025 01:59:59 GMT"})
    garbage = factory.get("/", headers={"If-Modified-Since": "yesterday"})
    assert is_not_modified(same, ETAG, LAST_MODIFIED)
    assert not is_not_modified(older, ETAG, LAST_MODIFIED)
    assert not is_not_modified(garbage, ETAG, LAST_MODIFIED)
    assert not is_not_modified(same, ETAG)  # no Last-Modified sent, so no date to match


def test_only_safe_methods_are_answered_not_modified():
    head = factory.head("/", headers={"If-None-Match": ETAG})
    post = factory.post("/", headers={"If-None-Match": ETAG})
    assert is_not_modified(head, ETAG)
    assert not is_not_modified(post, ETAG)


def test_last_modified_moves_only_with_the_bytes():
    first = Stored.from_rendered("g1", Rendered(b"one"), T0)
    assert first.last_modified == LAST_MODIFIED
    # A rebuild in the same second with other bytes still gets a later date.
    changed = Stored.from_rendered("g2", Rendered(b"two"), T0, previous=first)
    assert changed.etag != first.etag
    assert changed.last_modified == LAST_MODIFIED + 1
    # The same bytes later keep their date, so If-Modified-Since still matches.
    same = Stored.from_rendered("g3", Rendered(b"two"), T0 + timedelta(hours=1), changed)
    assert (same.etag, same.last_modified) == (changed.etag, changed.last_modified)


def test_an_entry_is_current_for_its_generation_until_its_moment():
    entry = Stored.from_rendered("g1", Rendered(b"x", valid_until=T0), T0 - timedelta(hours=1))
    assert entry.is_current("g1", T0.timestamp() - 1)
    assert not entry.is_current("g1", T0.timestamp())
    assert not entry.is_current("g2", T0.timestamp() - 1)
    assert not entry.is_current(None, T0.timestamp() - 1)


def test_an_entry_survives_the_cache_whole_or_as_a_summary():
    entry = Stored.from_rendered(
        "g1", Rendered(b"x", content_type="application/json", headers=(("Link", "<u>"),)), T0
    )
    assert Stored.load(entry.to_cache()) == entry
    summary = Stored.load_summary(entry.summary())
    assert summary.body is None and summary.etag == entry.etag
    assert Stored.load(entry.summary()) is None
    assert Stored.load_summary(entry.to_cache()) is None
    assert Stored.load(("an", "older", "shape")) is None
    assert Stored.load({"token": "g1"}) is None


def test_a_built_entry_is_served_until_the_generation_changes():
    builds = []

    def build(now):
        builds.append(now)
        return Rendered(f"build {len(builds)}".encode())

    assert SHELF.get_or_build("entry", build).body == b"build 1"
    assert SHELF.get_or_build("entry", build).body == b"build 1"
    writes.committed()
    assert SHELF.get_or_build("entry", build).body == b"build 2"
    assert len(builds) == 2


def test_nothing_to_keep_is_not_kept():
    assert SHELF.get_or_build("none", lambda now: None) is None
    assert cache.get("test:none") is None


def test_a_cache_outage_builds_afresh_and_stores_nothing(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ConnectionError("cache is down")

    monkeypatch.setattr(store, "read_many", broken)
    monkeypatch.setattr(store, "write_many", broken)
    monkeypatch.setattr(store.cache, "set_many", broken)
    with caplog.at_level("WARNING", logger="incidents.cache.store"):
        entry = X.get_or_build("outage", lambda now: Rendered(b"live"))
    assert entry.body == b"live"
    assert entry.etag == store.etag_for(b"live")
    assert entry.generation is None  # never stored under a token it did not read
    assert "X cache unavailable" in caplog.text
    monkeypatch.undo()
    assert cache.get("test:outage") is None


def test_a_failed_store_still_answers(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ConnectionError("cache is down")

    monkeypatch.setattr(store, "write_many", broken)
    monkeypatch.setattr(store.cache, "set_many", broken)
    with time_machine.travel(T0, tick=False), caplog.at_level("WARNING"):
        entry = X.get_or_build("set", lambda now: Rendered(b"live"))
    assert entry.body == b"live"
    assert "could not keep a X response" in caplog.text


def test_a_summary_shelf_answers_from_the_bytes_this_process_keeps(django_assert_max_num_queries):
    pages = Shelf(
        "test:pages:", summary_prefix="test:summary:", kept_per_process=4, timeout=60, what="test"
    )
    built = pages.get_or_build("p", lambda now: Rendered(b"page"))
    cache.delete("test:pages:p")  # the whole entry is gone from the shared cache...
    again = pages.get_or_build("p", lambda now: Rendered(b"rebuilt"))
    assert again.body == b"page"  # ...but this process still holds the bytes the summary names
    assert again.etag == built.etag
    pages.kept.clear()  # as in another worker: the summary names bytes no one has
    assert pages.get_or_build("p", lambda now: Rendered(b"rebuilt")).body == b"rebuilt"


def test_a_304_needs_no_bytes_from_a_summary_shelf():
    pages = Shelf(
        "test:pages:", summary_prefix="test:summary:", kept_per_process=4, timeout=60, what="test"
    )
    pages.get_or_build("q", lambda now: Rendered(b"page"))
    pages.kept.clear()
    cache.delete("test:pages:q")
    entry = pages.get_or_build("q", lambda now: Rendered(b"rebuilt"), wants_body=lambda e: False)
    assert entry.body is None  # current, and the client holds it: no bytes fetched or built


def test_every_shelf_outlives_a_cache_outage_the_same_way(monkeypatch, caplog):
    """The status page's shelf (summaries, one renderer) answers through an
    outage exactly as the API's does: built afresh, nothing stored."""
    from incidents.cache.pages import PAGES

    def broken(*args, **kwargs):
        raise ConnectionError("cache is down")

    monkeypatch.setattr(store, "read_many", broken)
    monkeypatch.setattr(store, "add_one", broken)
    monkeypatch.setattr(store, "write_many", broken)
    monkeypatch.setattr(store.cache, "set_many", broken)
    with caplog.at_level("WARNING", logger="incidents.cache.store"):
        entry = PAGES.get_or_build("test-outage", lambda now: Rendered(b"live"))
    assert entry.body == b"live" and entry.generation is None
    assert "page cache unavailable" in caplog.text


def test_entries_are_stored_lean_and_once_a_minute_through_djangos_cull(monkeypatch):
    """Stored with its summary in one statement (the database cache), and
    once every CULL_INTERVAL through Django's set_many, which culls the cache
    table (expired and surplus entries)."""
    pages = Shelf("test:p:", summary_prefix="test:s:", timeout=60, what="test")
    monkeypatch.setattr(store, "_cull_due_at", 0.0)  # as in a process just started
    culls = []
    set_many = cache.set_many

    def counted(values, *args, **kwargs):
        culls.extend(key for key in values if key.startswith("test:p:"))
        return set_many(values, *args, **kwargs)

    monkeypatch.setattr(store.cache, "set_many", counted)
    monkeypatch.setattr(store, "CULL_INTERVAL", 1.0)
    for n in range(5):
        writes.committed()
        page = pages.get_or_build("p", lambda now, n=n: Rendered(b"page %d" % n))
        assert page.body == pages.whole("p").body == b"page %d" % n
    assert culls == ["test:p:p"]  # the first store alone
    time.sleep(1.05)
    writes.committed()
    pages.get_or_build("p", lambda now: Rendered(b"an interval on"))
    assert culls == ["test:p:p", "test:p:p"]


def test_a_render_claim_is_taken_once_until_it_expires():
    from incidents.cache.database import add_one

    with time_machine.travel(T0, tick=False):
        assert add_one("test:claim", 1, 10) is True
        assert add_one("test:claim", 1, 10) is False
        assert cache.get("test:claim") == 1
    with time_machine.travel(T0 + timedelta(seconds=11), tick=False):
        assert add_one("test:claim", 1, 10) is True  # the lapsed claim is taken over
        assert add_one("test:claim", 1, 10) is False
