"""The unchanged status page answered before Django's handler
(incidents/cache/fast.py), through the WSGI application gunicorn serves.

The tests call that application with a WSGI environ, as gunicorn does, in
autocommit (a transactional database): the path closes obsolete connections
after each answer, as Django does after each request."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection, connections
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.cache import fast, store
from incidents.cache.pages import PAGES
from statuspage.wsgi import application
from tests.wsgi_calls import get

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_process(fresh_cache):
    """No stored page, no kept bytes, nothing learnt: a process just started."""
    PAGES.kept.clear()
    application.learnt.clear()
    fast.outage._saved.clear()


def answered_fast():
    return fast.ANSWERED["fast"]


def test_an_unchanged_page_is_answered_in_front_of_django_with_its_headers(make_incident):
    make_incident(title="Database slow")
    status, headers, body = get()  # rendered by Django, stored, headers learnt
    assert status == "200 OK" and b"Database slow" in body
    before = answered_fast()
    with CaptureQueriesContext(connection) as queries:
        again = get()
    assert answered_fast() == before + 1
    assert len(queries) <= 1  # the generation and the page's summary, together
    assert again == (status, headers, body)
    assert headers["Content-Security-Policy"] and headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Length"] == str(len(body))


def test_an_unchanged_page_asks_no_health_check_beside_its_lookup(make_incident, monkeypatch):
    """With CONN_HEALTH_CHECKS Django checks a connection (``SELECT 1`` on
    PostgreSQL) before each request's first query: a second round trip for
    a page answered with one. The connection that just answered needs none."""
    checks = []
    wrapper = connections["default"]
    is_usable = type(wrapper).is_usable
    monkeypatch.setattr(
        type(wrapper), "is_usable", lambda self: checks.append(1) or is_usable(self)
    )
    assert wrapper.health_check_enabled
    make_incident(title="Database slow")
    get()
    get()
    before, checks[:] = answered_fast(), []
    for _n in range(3):
        with CaptureQueriesContext(connection) as queries:
            assert b"Database slow" in get()[2]
        assert len(queries) == 1
    assert answered_fast() == before + 3
    assert checks == []


def test_on_postgresql_the_lookup_is_one_prepared_statement(make_incident):
    """PostgreSQL parses and plans the lookup once per connection, not once
    per request (Django's own cursor binds client-side and never prepares)."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    make_incident(title="Database slow")
    for _n in range(3):
        get()
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any("kamustatus_cache" in statement for statement in prepared), prepared


def test_a_connection_that_died_between_requests_costs_no_answer(make_incident):
    """Unchecked, a connection that died since the last answer fails the
    lookup: it is closed, and Django's path answers on a new one."""
    if connection.vendor != "postgresql":
        pytest.skip("needs a database server whose connection can die")
    make_incident(title="Database slow")
    get()
    get()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [(pid,)] = cursor.fetchall()
    import psycopg

    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        dbname=settings["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    status, _headers, body = get()
    assert status == "200 OK" and b"Database slow" in body
    assert get()[0] == "200 OK"


def test_the_live_part_and_a_conditional_get_are_answered_too(make_incident):
    make_incident()
    _status, live_headers, live = get(HTTP_HX_REQUEST="true")
    _status, headers, _body = get()
    assert get(HTTP_HX_REQUEST="true")[2] == live and len(live) < len(_body)
    get(HTTP_IF_NONE_MATCH=headers["ETag"])  # Django answers the first 304
    before = answered_fast()
    status, not_modified, body = get(HTTP_IF_NONE_MATCH=headers["ETag"])
    assert answered_fast() == before + 1
    assert (status, body) == ("304 Not Modified", b"")
    assert not_modified["ETag"] == headers["ETag"] and "Content-Length" not in not_modified
    assert live_headers["ETag"] != headers["ETag"]


def test_a_write_is_shown_by_the_very_next_request(make_incident):
    incident = make_incident(title="First title")
    get()
    assert b"First title" in get()[2]
    incident.change(title="Second title")
    status, _headers, body = get()
    assert status == "200 OK"
    assert b"Second title" in body and b"First title" not in body


def test_a_host_not_allowed_gets_djangos_400():
    get()
    get()
    environ = RequestFactory().get("/", HTTP_HOST="evil.example").environ
    answer = {}
    application(environ, lambda status, headers, exc_info=None: answer.setdefault("s", status))
    assert answer["s"].startswith("400")


def test_the_language_follows_the_visitor_and_the_page_settings():
    from incidents.appearance.models import PageSettings

    get()
    get(HTTP_ACCEPT_LANGUAGE="de")
    assert get(HTTP_ACCEPT_LANGUAGE="de")[1]["Content-Language"] == "de"
    assert get()[1]["Content-Language"] == "en"
    settings_row = PageSettings.objects.get_solo()
    settings_row.default_language = "de"
    settings_row.save()
    # A visitor who asks for no language gets the new default at once.
    assert get()[1]["Content-Language"] == "de"
    assert get()[1]["Content-Language"] == "de"


def test_a_cache_that_fails_leaves_the_answer_to_django(monkeypatch):
    get()
    get()

    def away(keys):
        raise OSError("the cache is away")

    monkeypatch.setattr(store, "read_many", away)
    before = answered_fast()
    status, _headers, body = get()
    assert status == "200 OK" and b"</html>" in body
    assert answered_fast() == before


def test_the_lean_database_read_is_what_the_cache_says():
    cache.set("kamustatus:test:a", ("a", 1), 60)
    cache.set("kamustatus:test:b", b"bytes", 60)
    cache.set("kamustatus:test:gone", "old", 60)
    # Expired: as if it had been stored long ago.
    from django.core.cache import caches

    backend = caches["default"]
    if not hasattr(backend, "_table"):
        pytest.skip("the database cache is not in use")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {backend._table} SET expires = %s WHERE cache_key = %s",  # noqa: S608
            [timezone.now() - timedelta(seconds=1), backend.make_key("kamustatus:test:gone")],
        )
    keys = ["kamustatus:test:a", "kamustatus:test:b", "kamustatus:test:gone", "kamustatus:none"]
    assert (
        store.read_many(keys)
        == cache.get_many(keys)
        == {
            "kamustatus:test:a": ("a", 1),
            "kamustatus:test:b": b"bytes",
        }
    )


def test_a_browser_gets_the_page_compressed_from_either_path(make_incident):
    import gzip

    make_incident(title="Database slow")
    _status, plain_headers, plain = get()
    status, headers, body = get(HTTP_ACCEPT_ENCODING="gzip, deflate, br")  # Django's answer
    assert status == "200 OK" and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == plain
    assert len(body) < len(plain) / 2
    assert headers["ETag"] == "W/" + plain_headers["ETag"]
    assert "Accept-Encoding" in headers["Vary"]
    before = answered_fast()
    assert get(HTTP_ACCEPT_ENCODING="gzip, deflate, br") == (status, headers, body)
    assert answered_fast() == before + 1
    # A client that refuses gzip gets the plain bytes.
    assert get(HTTP_ACCEPT_ENCODING="gzip;q=0")[2] == plain
    # The weak ETag asks again with a 304, on either path.
    for _ in range(2):
        status, not_modified, empty = get(
            HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=headers["ETag"]
        )
        assert (status, empty, not_modified["ETag"]) == ("304 Not Modified", b"", headers["ETag"])
