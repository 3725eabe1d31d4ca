"""The API's unchanged keyed GETs answered before Django's handler
(incidents/api/fast.py), through the WSGI application gunicorn serves.

As tests/test_fast_path.py does for the status page: the application called
with a WSGI environ, as gunicorn calls it, in autocommit."""

import gzip
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.api import fast
from incidents.models import ApiKey, Incident
from statuspage.wsgi import application
from tests import wsgi_calls

pytestmark = pytest.mark.django_db(transaction=True)

API = application.application  # the API's fast path, behind the page's


@pytest.fixture(autouse=True)
def fresh_process(fresh_cache):
    """Nothing learnt: a process just started."""
    API.learnt.clear()


def get(path, key, **headers):
    return wsgi_calls.get(path, HTTP_X_API_KEY=key, **headers)


def answered_fast():
    return fast.ANSWERED["fast"]


def incidents(count):
    for number in range(count):
        Incident.open_incident(title=f"Incident {number}", message="Looking.")


def test_an_unchanged_list_is_answered_in_front_of_django_as_django_answered(raw_key):
    incidents(3)
    first = get("/api/incidents?limit=2", raw_key)  # Django: stored, headers learnt
    assert first[0] == "200 OK" and len(json.loads(first[2])) == 2
    before = answered_fast()
    with CaptureQueriesContext(connection) as queries:
        again = get("/api/incidents?limit=2", raw_key)
    assert answered_fast() == before + 1
    assert len(queries) <= 1  # the generation, the answer and the key's record, together
    assert again == first  # the same status, headers (Link to the next page too) and body
    headers = again[1]
    assert headers["Link"].endswith('rel="next"')
    assert headers["Cache-Control"] == "private, no-cache"
    assert headers["Content-Security-Policy"] and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Length"] == str(len(again[2]))
    # Another query string is another answer, Django's to build first.
    assert json.loads(get("/api/incidents?limit=1", raw_key)[2]) != json.loads(first[2])
    assert answered_fast() == before + 1


def test_a_conditional_get_is_answered_304_and_an_incident_too(raw_key):
    incidents(1)
    [listed] = json.loads(get("/api/incidents", raw_key)[2])
    path = f"/api/incidents/{listed['id']}"
    _status, headers, body = get(path, raw_key)
    assert get(path, raw_key)[2] == body
    get(path, raw_key, HTTP_IF_NONE_MATCH=headers["ETag"])  # Django answers the first 304
    before = answered_fast()
    status, not_modified, empty = get(path, raw_key, HTTP_IF_NONE_MATCH=headers["ETag"])
    assert answered_fast() == before + 1
    assert (status, empty) == ("304 Not Modified", b"")
    assert not_modified["ETag"] == headers["ETag"] and "Content-Type" not in not_modified


def test_a_write_is_shown_by_the_very_next_request(raw_key):
    incidents(1)
    get("/api/incidents", raw_key)
    get("/api/incidents", raw_key)
    Incident.open_incident(title="Written since", message="x")
    before = answered_fast()
    _status, _headers, body = get("/api/incidents", raw_key)
    assert answered_fast() == before  # out of date: Django built it again
    assert "Written since" in [item["title"] for item in json.loads(body)]


def test_a_revoked_key_is_refused_by_the_very_next_request(api_key, raw_key):
    key, _raw = api_key
    incidents(1)
    get("/api/incidents", raw_key)
    assert get("/api/incidents", raw_key)[0] == "200 OK"
    ApiKey.objects.get(pk=key.pk).revoke()
    status, _headers, body = get("/api/incidents", raw_key)
    assert status.startswith("401") and json.loads(body)["error"]["code"] == "unauthorized"


def test_an_unknown_key_is_refused_however_much_the_answer_is_kept(raw_key):
    incidents(1)
    get("/api/incidents", raw_key)
    get("/api/incidents", raw_key)
    before = answered_fast()
    for wrong in ("km_" + "x" * 43, "not-a-key"):
        status, _headers, body = get("/api/incidents", wrong)
        assert status.startswith("401") and json.loads(body)["error"]["code"] == "unauthorized"
    assert answered_fast() == before


def test_the_key_use_is_recorded_on_the_fast_path_too(api_key, raw_key, monkeypatch):
    key, _raw = api_key
    incidents(1)
    get("/api/incidents", raw_key)
    monkeypatch.setattr("incidents.models.keys._last_recorded", {})  # a minute later
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=None)
    before = answered_fast()
    get("/api/incidents", raw_key)
    assert answered_fast() == before + 1
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None


def test_a_cache_that_fails_leaves_the_answer_to_django(raw_key, monkeypatch):
    incidents(1)
    get("/api/incidents", raw_key)
    monkeypatch.setattr(
        "incidents.cache.store.read_many", lambda names: (_ for _ in ()).throw(OSError("away"))
    )
    before = answered_fast()
    status, _headers, body = get("/api/incidents", raw_key)
    assert answered_fast() == before
    assert status == "200 OK" and json.loads(body)[0]["title"] == "Incident 0"


def test_a_client_accepting_gzip_gets_the_answer_compressed_both_ways(raw_key):
    """Django's path and the fast path send the same compressed bytes, with
    the weak form of the plain answer's ETag, which If-None-Match matches; a
    client that does not accept gzip gets the plain JSON from both."""
    incidents(20)
    path = "/api/incidents?limit=20"
    plain = get(path, raw_key)  # Django
    packed = get(path, raw_key, HTTP_ACCEPT_ENCODING="gzip, deflate, br")  # Django
    before = answered_fast()
    assert get(path, raw_key, HTTP_ACCEPT_ENCODING="gzip") == packed  # fast
    assert get(path, raw_key) == plain  # fast
    assert answered_fast() == before + 2
    for _status, headers, _body in (plain, packed):
        assert "Accept-Encoding" in headers["Vary"]
    assert "Content-Encoding" not in plain[1]
    assert packed[1]["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed[2]) == plain[2]
    assert len(packed[2]) * 4 < len(plain[2])
    assert packed[1]["ETag"] == "W/" + plain[1]["ETag"]
    assert packed[1]["Content-Length"] == str(len(packed[2]))
    for etag in (packed[1]["ETag"], plain[1]["ETag"]):
        status, headers, body = get(path, raw_key, HTTP_IF_NONE_MATCH=etag,
                                    HTTP_ACCEPT_ENCODING="gzip")  # fmt: skip
        assert (status, body, headers["ETag"]) == ("304 Not Modified", b"", packed[1]["ETag"])
    # Refused with q=0: plain.
    assert get(path, raw_key, HTTP_ACCEPT_ENCODING="gzip;q=0") == plain
