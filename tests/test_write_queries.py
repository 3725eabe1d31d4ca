"""A write is one transaction of a few statements, whatever the incident's size.

The incident API's create and PATCH each run in one transaction with no
savepoint: the key check, the lock, each row written once (several links in
one insert), the generation bump as one upsert, the audit row and the outbox
row — and the answer is built from what was written, not read back. The same
count holds for an incident with one timeline entry and monitor as for one
with many (no statement per row). Nothing runs after the commit: a create's
``Location`` header takes the page's address from this process's copy of the
page settings, which writes to incidents leave valid.
"""

import pytest
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.models import AuditRecord, Incident
from incidents.subscribers.models import Event

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


class Statements:
    def __init__(self, captured):
        self.sql = [query["sql"] for query in captured]

    @property
    def work(self):
        """Every statement but transaction control."""
        return [sql for sql in self.sql if not sql.upper().startswith(TRANSACTION_CONTROL)]

    def starting(self, word):
        return [sql for sql in self.sql if sql.upper().startswith(word)]

    def in_transaction(self):
        """The statements between the one BEGIN and its COMMIT."""
        begin = next(i for i, sql in enumerate(self.sql) if sql.upper().startswith("BEGIN"))
        commit = next(i for i, sql in enumerate(self.sql) if sql.upper().startswith("COMMIT"))
        return self.sql[begin + 1 : commit]


def run(call):
    with CaptureQueriesContext(connection) as captured:
        response = call()
    return response, Statements(captured.captured_queries)


def assert_one_transaction(statements):
    assert len(statements.starting("BEGIN")) == 1, statements.sql
    assert len(statements.starting("COMMIT")) == 1, statements.sql
    assert statements.starting("SAVEPOINT") == [], "a nested atomic block in the write"
    # With the database cache, the generation bump is one upsert, and the
    # last statement before the commit: the generation row it locks is then
    # held for one statement, not for the whole write.
    if not isinstance(caches["default"], DatabaseCache):
        return
    bumps = [sql for sql in statements.sql if GENERATION_ROW in sql]
    assert len(bumps) == 1, bumps
    assert statements.in_transaction()[-1] == bumps[0]


GENERATION_ROW = 'INSERT INTO "kamustatus_cache"'


@pytest.fixture
def incident_with(api, make_monitor, fresh_cache):
    """An incident through the API with ``monitors`` monitors and ``entries``
    timeline entries."""

    def make(monitors, entries):
        ids = [make_monitor().id for _ in range(monitors)]
        created = api("POST", "/api/incidents", {"title": "t", "message": "m", "monitorIds": ids})
        incident_id = created.json()["id"]
        for number in range(entries - 1):
            api("PATCH", f"/api/incidents/{incident_id}", {"message": f"entry {number}"})
        api("GET", "/api/incidents")  # the key's last use is recorded by now
        return incident_id

    return make


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("monitors", "entries"), [(1, 1), (10, 25)])
def test_a_patch_is_eight_statements_in_one_transaction(api, incident_with, monitors, entries):
    incident_id = incident_with(monitors, entries)
    response, statements = run(
        lambda: api(
            "PATCH", f"/api/incidents/{incident_id}", {"status": "resolved", "message": "ok"}
        )
    )
    assert response.status_code == 200
    assert_one_transaction(statements)
    # The key check; the row locked with its window and links; its timeline;
    # the new entry; the generation bump; the incident's new status; the
    # audit row; the outbox's event.
    assert len(statements.work) == 8, "\n".join(statements.work)
    assert response.json() == api("GET", f"/api/incidents/{incident_id}").json()
    assert len(response.json()["updates"]) == entries + 1
    assert len(response.json()["monitorIds"]) == monitors
    assert Event.objects.filter(incident_ref=incident_id, type=Event.INCIDENT_RESOLVED).exists()


@pytest.fixture
def redis_reads(monkeypatch):
    """The reading Redis commands this process sends, by name."""
    import redis

    sent = []
    real = redis.Redis.execute_command

    def counting(self, *args, **options):
        if args[0] in ("GET", "MGET"):
            sent.append(args[0])
        return real(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counting)
    return sent


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("monitors", [0, 1, 10])
def test_a_create_is_one_transaction_with_nothing_after_it(
    api, make_monitor, shared_cache, redis_reads, monitors
):
    ids = [make_monitor().id for _ in range(monitors)]
    api("GET", "/api/incidents")
    api("POST", "/api/incidents", {"title": "Earlier", "message": "m"})  # an earlier write
    body = {"title": "Checkout down", "message": "Investigating.", "monitorIds": ids}
    redis_reads.clear()
    response, statements = run(lambda: api("POST", "/api/incidents", body))
    assert response.status_code == 201
    assert_one_transaction(statements)
    written = statements.in_transaction()
    # The monitors read locked (when there are any); the incident; the
    # generation bump (with the database cache); the links in one insert
    # (when there are any); the first entry; the audit row; the outbox's event.
    bump = shared_cache != "redis"
    assert len(written) == 4 + bump + 2 * bool(monitors), "\n".join(written)
    # Nothing after it: the Location header's base URL comes from this
    # process's copy of the page settings, which the write left valid, checked
    # against the settings token read with the key's record before it.
    assert statements.sql[-1].upper().startswith("COMMIT"), "\n".join(statements.sql)
    if shared_cache == "redis":
        assert statements.work == written, "\n".join(statements.work)
        assert redis_reads == ["MGET"]  # the key's record and the tokens, no more
    else:
        assert len(statements.work) == len(written) + 1, "\n".join(statements.work)
        assert len(statements.work) <= 8
    created = response.json()
    assert created == api("GET", response["Location"].removeprefix("http://testserver")).json()
    assert created["monitorIds"] == ids
    assert AuditRecord.objects.get(object_id=created["id"]).changes == created
    assert Event.objects.get(incident_ref=created["id"]).incident == created


@pytest.mark.django_db(transaction=True)
def test_a_location_follows_the_page_settings_at_once(api, shared_cache):
    """A write keeps the page settings' copy, a change of the settings drops
    it: the next create's Location header has the new address."""
    from incidents.appearance.models import PageSettings

    body = {"title": "Checkout down", "message": "Investigating."}
    assert api("POST", "/api/incidents", body)["Location"].startswith("http://testserver/")
    row = PageSettings.objects.get_solo()
    row.public_url = "https://status.example.com"
    row.save()
    location = api("POST", "/api/incidents", body)["Location"]
    assert location.startswith("https://status.example.com/api/incidents/inc_")
    PageSettings.objects.all().delete()
    assert api("POST", "/api/incidents", body)["Location"].startswith("http://testserver/")


@pytest.mark.django_db(transaction=True)
def test_a_created_window_is_answered_as_it_is_stored(api, make_monitor, fresh_cache):
    monitor = make_monitor()
    api("POST", "/api/incidents", {"title": "t", "message": "m"})  # key and settings kept
    body = {
        "title": "Database upgrade",
        "message": "Planned.",
        "monitorIds": [monitor.id],
        "maintenance": True,
        "scheduledStart": "2031-06-01T04:00:00+02:00",
        "scheduledEnd": "2031-06-01T05:00:00+02:00",
    }
    response, statements = run(lambda: api("POST", "/api/incidents", body))
    assert response.status_code == 201
    assert_one_transaction(statements)
    assert len(statements.in_transaction()) == 8  # the window's row besides
    created = response.json()
    assert created["scheduledStart"] == "2031-06-01T02:00:00Z"
    assert created == api("GET", f"/api/incidents/{created['id']}").json()


@pytest.mark.django_db(transaction=True)
def test_a_refused_patch_writes_nothing(api, incident_with):
    incident_id = incident_with(2, 2)
    before = api("GET", f"/api/incidents/{incident_id}").json()
    audited = AuditRecord.objects.count()
    response = api("PATCH", f"/api/incidents/{incident_id}", {"monitorIds": ["mon_nope"]})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["monitorIds"]
    assert api("GET", f"/api/incidents/{incident_id}").json() == before
    assert AuditRecord.objects.count() == audited
    assert Incident.objects.get(pk=incident_id).updates.count() == 2


@pytest.mark.django_db(transaction=True)
def test_writes_naming_one_monitor_do_not_wait_for_each_other(make_monitor):
    """New incidents for the same monitor (every alert of one outage) keep it
    from deletion without queueing on it: a second transaction gets the same
    hold at once, while a deletion waits until both have committed."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's write transaction holds the whole database")
    import threading

    from django.db import DatabaseError, connections, transaction

    from incidents.models import Monitor

    monitor = make_monitor()
    outcomes = {}

    def another_write(name, action):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
                outcomes[name] = action()
        except DatabaseError as error:
            outcomes[name] = type(error.__cause__).__name__
        finally:
            connections.close_all()

    def in_thread(name, action):
        thread = threading.Thread(target=another_write, args=(name, action))
        thread.start()
        thread.join(10)

    with transaction.atomic():
        assert [m.id for m in Monitor.objects.kept_until_commit([monitor.id])] == [monitor.id]
        in_thread("second", lambda: [m.id for m in Monitor.objects.kept_until_commit([monitor.id])])
        in_thread("delete", lambda: Monitor.objects.filter(pk=monitor.id).delete())
    assert outcomes == {"second": [monitor.id], "delete": "LockNotAvailable"}
