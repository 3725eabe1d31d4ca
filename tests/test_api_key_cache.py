"""A keyed GET whose stored answer is current costs one round trip to the
shared cache, the key included — and a key revoked, renamed or deleted is
taken at its word on the very next request, on every worker.

Each in-process test runs on the configured cache (the database's, or Redis
with REDIS_URL) and, when Redis is at hand, on Redis as well."""

import base64
import pickle

import pytest
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents import ratelimit
from incidents.cache import store
from incidents.models import ApiKey, ApiKeyQuerySet, AuditRecord
from tests.servers import api_site, http, manage

pytestmark = pytest.mark.django_db


def is_database_cache():
    return isinstance(caches["default"], DatabaseCache)


@pytest.fixture
def redis_commands(monkeypatch):
    """The Redis commands this process sends, by name."""
    import redis

    sent = []
    real = redis.Redis.execute_command

    def counting(self, *args, **options):
        sent.append(args[0])
        return real(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counting)
    return sent


@pytest.mark.parametrize("what", ["list incidents", "one incident", "list monitors"])
def test_an_unchanged_answer_is_one_round_trip_key_and_all(
    shared_cache, api, make_incident, make_monitor, redis_commands, what
):
    make_monitor()
    incident = make_incident()
    path = {
        "list incidents": "/api/incidents",
        "one incident": f"/api/incidents/{incident.id}",
        "list monitors": "/api/monitors",
    }[what]
    first = api("GET", path)
    assert first.status_code == 200
    redis_commands.clear()
    with CaptureQueriesContext(connection) as queries:
        again = api("GET", path)
    assert again.status_code == 200 and again.content == first.content
    if is_database_cache():
        # One statement on the cache table: the generation, the answer, the key.
        assert len(queries) == 1, [query["sql"] for query in queries]
        assert "kamustatus_cache" in queries[0]["sql"]
    else:
        assert len(queries) == 0, [query["sql"] for query in queries]
        assert redis_commands == ["MGET"]


def test_a_304_is_one_round_trip_too(shared_cache, api, make_incident, redis_commands):
    make_incident()
    etag = api("GET", "/api/incidents")["ETag"]
    redis_commands.clear()
    with CaptureQueriesContext(connection) as queries:
        assert api("GET", "/api/incidents", **{"If-None-Match": etag}).status_code == 304
    assert len(queries) == (1 if is_database_cache() else 0)
    assert redis_commands == ([] if is_database_cache() else ["MGET"])


def test_a_key_revoked_in_the_admin_is_refused_on_the_next_call(
    shared_cache, api, api_key, admin_client
):
    key, _raw = api_key
    assert api("GET", "/api/incidents").status_code == 200
    assert api("GET", "/api/incidents").status_code == 200  # from the cache, key and all
    admin_client.post(
        reverse("admin:incidents_apikey_changelist"),
        {"action": "revoke_selected", "_selected_action": [key.pk]},
    )
    for path in ("/api/incidents", "/api/monitors", "/api/groups"):
        response = api("GET", path)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "unauthorized"
    assert api("POST", "/api/monitors", {"name": "x"}).status_code == 401


@pytest.mark.parametrize("how", ["revoke", "queryset update", "delete"])
def test_a_key_revoked_or_deleted_anyhow_is_refused_on_the_next_call(
    shared_cache, api, api_key, how
):
    key, _raw = api_key
    assert api("GET", "/api/monitors").status_code == 200
    assert api("GET", "/api/monitors").status_code == 200
    if how == "revoke":
        key.revoke()
    elif how == "queryset update":
        ApiKey.objects.filter(pk=key.pk).update(revoked_at="2025-01-01T00:00:00Z")
    else:  # as in a shell: the admin offers no delete (the audit trail keeps its key)
        ApiKey.objects.filter(pk=key.pk).delete()
    assert api("GET", "/api/monitors").status_code == 401
    assert api("GET", "/api/incidents").status_code == 401


def test_a_reader_racing_a_revoke_cannot_bring_the_key_back(
    shared_cache, api, api_key, monkeypatch
):
    """A request that found the key usable in the database just before it
    was revoked is answered (it came first), but the record it then adds
    never lands on the revoke's tombstone: the next call is refused."""
    key, _raw = api_key
    real = ApiKeyQuerySet._from_database

    def revoked_meanwhile(self, raw):
        found = real(self, raw)
        ApiKey.objects.get(pk=key.pk).revoke()  # between the reader's lookup and its add
        return found

    monkeypatch.setattr(ApiKeyQuerySet, "_from_database", revoked_meanwhile)
    assert api("GET", "/api/monitors").status_code == 200
    monkeypatch.undo()
    assert api("GET", "/api/monitors").status_code == 401


def test_a_renamed_key_writes_its_new_name_into_the_audit_trail(
    shared_cache, api, api_key, admin_client
):
    key, _raw = api_key
    assert api("GET", "/api/monitors").status_code == 200  # its record is kept
    admin_client.post(
        reverse("admin:incidents_apikey_change", args=[key.pk]), {"name": "deploy bot"}
    )
    assert ApiKey.objects.get(pk=key.pk).name == "deploy bot"
    assert api("POST", "/api/monitors", {"name": "Web"}).status_code == 201
    assert AuditRecord.objects.get(api_key=key).actor == f"API key deploy bot ({key.prefix}…)"


def cache_contents():
    """Every key and value the shared cache holds now, as bytes."""
    backend = caches["default"]
    if isinstance(backend, DatabaseCache):
        with connection.cursor() as cursor:
            cursor.execute("SELECT cache_key, value FROM kamustatus_cache")
            rows = cursor.fetchall()
        return [
            (name.encode(), repr(pickle.loads(base64.b64decode(value))).encode() + value.encode())  # noqa: S301
            for name, value in rows
        ]
    client = backend._cache.get_client()
    return [
        (name, client.get(name) or b"") for name in client.scan_iter(match=f"{backend.key_prefix}*")
    ]


def test_the_raw_key_is_nowhere_in_the_cache(shared_cache, api, api_key, make_incident):
    key, raw = api_key
    make_incident()
    for path in ("/api/incidents", "/api/monitors", "/api/groups"):
        assert api("GET", path).status_code == 200
    assert api("POST", "/api/monitors", {"name": "Web"}).status_code == 201
    contents = cache_contents()
    record = [name for name, _ in contents if key.key_hash.encode() in name]
    assert record, "the key's record is kept under its hash"
    secret = raw.encode()
    assert all(secret not in name and secret not in value for name, value in contents)
    # Nor the part of it that is not shown in the admin.
    hidden = raw[len(key.prefix) :].encode()
    assert all(hidden not in name and hidden not in value for name, value in contents)


def test_the_last_use_is_written_once_a_minute_not_per_call(shared_cache, api, api_key):
    key, _raw = api_key
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert api("GET", "/api/monitors").status_code == 200
    updates = [query for query in queries if query["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None


def test_with_the_cache_away_keys_are_checked_in_the_database(
    shared_cache, api, api_key, monkeypatch, caplog
):
    key, raw = api_key
    assert api("GET", "/api/monitors").status_code == 200  # its record is kept
    # The refusal below is counted in this process (the cache is away): in this test's own.
    monkeypatch.setattr(ratelimit.api_keys, "local", ratelimit.LocalCounters())

    def unreachable(*args, **kwargs):
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(store, "read_many", unreachable)
    for name in ("get", "get_many", "add", "set", "set_many"):
        monkeypatch.setattr(caches["default"], name, unreachable)
    with caplog.at_level("WARNING"):
        assert api("GET", "/api/monitors").status_code == 200
        assert api("POST", "/api/monitors", {"name": "Web"}).status_code == 201
        ApiKey.objects.filter(pk=key.pk).update(revoked_at="2025-01-01T00:00:00Z")
        assert api("GET", "/api/monitors").status_code == 401  # the database says so
    assert raw not in caplog.text


# --- For real: two gunicorn workers on one database (and on one Redis) -----------------


@pytest.fixture(params=["database cache", "redis"])
def site(request, tmp_path):
    # Every refusal below a 401, none a 429.
    with api_site(tmp_path, request.param, AUTH_FAILURE_LIMIT="1000") as site:
        yield site


@pytest.mark.slow
def test_a_key_revoked_in_a_shell_is_refused_by_every_worker_at_once(site):
    base = site.url + "/api"
    for _ in range(20):  # both workers, the key's record kept and read back
        assert http(base, "GET", "/incidents", key=site.api_key)[0] == 200
    manage(
        site.env,
        "shell",
        "-c",
        "from incidents.models import ApiKey\nfor key in ApiKey.objects.all(): key.revoke()",
    )
    statuses = [http(base, "GET", "/incidents", key=site.api_key)[0] for _ in range(20)]
    assert statuses == [401] * 20
