"""The cache on a bad day: a last-good directory that cannot be written, a
cache that is unreachable, and visitors who try to fill it."""

import contextlib
import logging
import os
import subprocess

import pytest

from incidents.cache import outage


@pytest.fixture(autouse=True)
def forget_failures():
    yield
    outage._live_data_failed_at = None
    outage._keep_failed_at = None
    outage._saved.clear()


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory nobody may write to: chmod for a user, a read-only tmpfs
    for root (who ignores permissions)."""
    path = tmp_path / "read-only"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o500)
        yield path
        path.chmod(0o700)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot make a read-only directory as root here")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


# --- Finding 4: a read-only or full LAST_GOOD_DIR ------------------------------------


@pytest.mark.django_db
def test_an_unwritable_last_good_dir_is_logged_once_and_the_page_served(
    settings, read_only_dir, client, make_incident, caplog
):
    with contextlib.suppress(OSError):
        (read_only_dir / "probe").write_text("x")
        pytest.skip("the directory is writable after all")
    settings.KAMUSTATUS_LAST_GOOD_DIR = read_only_dir / "last-good"
    caplog.set_level(logging.DEBUG, logger="incidents.cache.outage")
    for number in range(40):
        make_incident(title=f"Incident {number}")  # each page is new bytes to keep
        page = client.get("/")
        assert page.status_code == 200 and f"Incident {number}".encode() in page.content
        assert client.get("/", headers={"HX-Request": "true"}).status_code == 200
    lines = [r for r in caplog.records if r.name == "incidents.cache.outage"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].levelname == "WARNING" and lines[0].exc_info is None
    assert "could not keep the last good status page" in lines[0].getMessage()


@pytest.mark.django_db
def test_writing_is_tried_again_later_and_its_return_is_logged(
    settings, client, make_incident, caplog, monkeypatch, tmp_path
):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the directory should be")
    settings.KAMUSTATUS_LAST_GOOD_DIR = blocked / "last-good"
    caplog.set_level(logging.INFO, logger="incidents.cache.outage")
    make_incident(title="Login failures")
    assert client.get("/").status_code == 200
    settings.KAMUSTATUS_LAST_GOOD_DIR = tmp_path / "last-good"
    assert client.get("/").status_code == 200
    assert not list(tmp_path.glob("last-good/status*.html"))  # backing off
    monkeypatch.setattr(outage, "KEEP_RETRY_AFTER", 0)
    assert client.get("/").status_code == 200
    assert list(tmp_path.glob("last-good/status*.html"))
    messages = [r.getMessage() for r in caplog.records if r.name == "incidents.cache.outage"]
    assert len(messages) == 2 and "again" in messages[1]


# --- Finding 1: the generation never stands still across a cache failure -------------


@pytest.mark.django_db
def test_a_bump_that_failed_is_made_on_the_next_cache_call(monkeypatch, make_incident):
    from django.core.cache import caches

    from incidents.cache import generation
    from incidents.cache.pages import PAGES

    cache = caches["default"]
    before = generation.current()
    settings_before = generation.settings_token()
    real_write = generation.write_many

    def unreachable(*args, **kwargs):
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(generation, "write_many", unreachable)  # the bump's one call
    monkeypatch.setattr(generation, "RETRY_PENDING_EVERY", 3600)  # no help from the thread
    make_incident(title="Written while the cache is away")  # the write itself succeeds
    assert generation.is_pending()
    monkeypatch.setattr(generation, "write_many", real_write)
    assert cache.get(generation.KEY) == before  # nobody has told the cache yet
    token, _entry = PAGES.lookup("status")  # the next cache call of this process
    assert token != before and not generation.is_pending()
    # The write it stands for may have been one to the page settings.
    assert cache.get(generation.SETTINGS_KEY) != settings_before


# --- Finding 5: the cache cannot be filled from outside ------------------------------


def stored_entries():
    from django.core.cache import caches
    from django.core.cache.backends.db import DatabaseCache
    from django.db import connection

    if not isinstance(caches["default"], DatabaseCache):
        pytest.skip("counts the database cache's rows")
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM kamustatus_cache")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_made_up_history_cursors_are_404_and_not_stored(client, make_incident):
    make_incident(title="Old").resolve("Fixed.")
    assert client.get("/history/").status_code == 200
    before = stored_entries()
    for number in range(5):
        page = client.get(f"/history/?before={10**15 + number}~inc_doesnotexist")
        assert page.status_code == 404
    assert stored_entries() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/feed.rss", "/feed.atom", "/api/v2/summary.json", "/api/v2/status.json"]
)
def test_answers_for_a_foreign_host_are_not_stored(client, make_incident, path):
    make_incident(title="Login failures")
    own = client.get(path)
    assert own.status_code == 200
    before = stored_entries()
    assert client.get(path).content == own.content  # the page's own URL: stored, reused
    for port in range(1001, 1006):
        answer = client.get(path, HTTP_HOST=f"testserver:{port}")
        assert answer.status_code == 200
        if "feed" in path:
            assert f"http://testserver:{port}/" in answer.content.decode()
    assert stored_entries() == before


def test_every_shelf_says_when_its_entries_expire():
    from incidents.cache.store import Shelf

    with pytest.raises(ValueError):
        Shelf("kamustatus:test:", timeout=None, what="test")


# --- Finding 11: the Statuspage JSON after a monitor is deleted ----------------------


@pytest.mark.django_db
@pytest.mark.parametrize("went_down", [True, False])
@pytest.mark.parametrize(
    "path", ["/api/v2/summary.json", "/api/v2/components.json", "/api/v2/incidents.json"]
)
def test_statuspage_json_keeps_resolved_incidents_of_deleted_monitors(
    client, make_monitor, make_incident, path, went_down
):
    import json

    gone = make_monitor(name="Legacy API")
    kept = make_monitor(name="Website")
    incident = make_incident(title="Legacy outage", monitor_ids=[gone.id, kept.id])
    if went_down:
        gone.change(status="down")
    incident.resolve("Fixed.")
    gone.delete_with_audit()
    answer = client.get(path)
    assert answer.status_code == 200
    document = json.loads(answer.content)
    assert [c["id"] for c in document.get("components", [])] in ([], [kept.id])
    for item in document.get("incidents", []):
        if item["id"] == incident.id:
            assert item["impact"] in ("none", "minor", "major", "critical")
            # Components are the page's current ones: the gone monitor is not one.
            assert [c["id"] for c in item["components"]] == [kept.id]
