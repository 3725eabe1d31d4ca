"""The database cache's hot calls, each one fixed statement on the open
connection.

Django's ``DatabaseCache`` builds its SQL on every call, validates keys and
prepares converters — more work than the database does to answer — and its
``set`` costs five statements (a ``COUNT(*)`` for culling, a savepoint, a
``SELECT``, the ``UPDATE`` or ``INSERT``, the savepoint's release). The two
calls every request and every write make go here instead:

- ``read_many``: the one read of every stored answer (the generation and an
  entry), one ``SELECT``;
- ``write_one``: the generation bump inside a write's transaction, one
  ``INSERT … ON CONFLICT … DO UPDATE`` (SQLite ≥ 3.24 and PostgreSQL);
  ``write_many`` the same for a few entries at once (one statement too): a
  stored page and its summary;
- ``add_one``: the claim of a render after a write, one upsert that takes
  over only an expired claim.

Values are encoded exactly as Django's backend encodes them (base64 of a
pickle), so either side reads what the other wrote. Any other cache goes to
Django's own calls unchanged; culling stays Django's, done by its other sets
(and by a stored answer every ``CULL_INTERVAL`` seconds, incidents/cache/store.py).
"""

import base64
import functools
import pickle
from datetime import UTC, datetime

import psycopg
from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.db import DEFAULT_DB_ALIAS, connections, models, router
from django.utils import timezone

_EXPIRES = models.Expression(output_field=models.DateTimeField())
_UPSERT_VENDORS = ("sqlite", "postgresql")


def _database_cache():
    backend = caches["default"]
    return backend if isinstance(backend, DatabaseCache) else None


def read_many(keys):
    """``cache.get_many(keys)``; with the database cache, one ``SELECT``.
    Expired entries read as missing."""
    backend = _database_cache()
    if backend is None:
        return cache.get_many(keys)
    connection = connections[router.db_for_read(backend.cache_model_class)]
    names = {backend.make_key(key): key for key in keys}
    rows = _rows(
        connection, _select_sql(connection.vendor, backend._table, len(names)), list(names)
    )
    now = timezone.now()
    converters = _expires_converters(connection)
    found = {}
    for name, value, expires in rows:
        for converter in converters:
            expires = converter(expires, _EXPIRES, connection)
        if expires >= now:
            # What this project's own cache wrote, decoded as Django's backend does.
            found[names[name]] = pickle.loads(base64.b64decode(value.encode()))  # noqa: S301
    return found


def write_one(key, value, timeout):
    """``cache.set(key, value, timeout)``; with the database cache on SQLite
    or PostgreSQL, one upsert, with no savepoint of its own (inside a write's
    transaction it commits or rolls back with the data)."""
    write_many({key: value}, timeout)


def write_many(values, timeout):
    """``write_one`` of every ``{key: value}``: with the database cache one
    upsert of them all, else one ``set`` (a single entry) or ``set_many``."""
    backend = _database_cache()
    connection = backend and connections[router.db_for_write(backend.cache_model_class)]
    if connection is None or connection.vendor not in _UPSERT_VENDORS:
        if len(values) == 1:
            [(key, value)] = values.items()
            cache.set(key, value, timeout)
        else:
            cache.set_many(values, timeout)
        return
    expires = _expires(connection, backend, timeout)
    parameters = []
    for key, value in values.items():
        parameters += [backend.make_key(key), _encoded(backend, value), expires]
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(connection.vendor, backend._table, len(values)), parameters)


def _rows(connection, sql, parameters):
    """The rows of the hot read: through Django's cursor, except on
    PostgreSQL, where the parameters are bound server-side. Django's psycopg
    cursor binds them client-side (it composes the statement's text in Python
    on every call) and so is never prepared; this one is, on a connection
    whose ``prepare_threshold`` allows it (statuspage/settings.py), and costs
    half the CPU and about half the round trip. It is Django's cursor
    otherwise: the health check first, database errors wrapped (and noted on
    the connection), execute wrappers and the query log (tests count it)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, parameters)
            return cursor.fetchall()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = connection._prepare_cursor(psycopg.Cursor(connection.connection))
    with cursor:
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
    log = connection.queries_log if connection.queries_logged else None
    if log and log[-1]["sql"] is None:
        # A prepared statement leaves psycopg no text to show: log it as sent.
        log[-1]["sql"] = connection.ops.compose_sql(sql, parameters)
    return rows


def add_one(key, value, timeout):
    """``cache.add(key, value, timeout)``: True when this call set the key (it
    was missing or expired). With the database cache on SQLite or PostgreSQL
    one upsert that updates only an expired row, instead of Django's count,
    transaction, select and insert."""
    backend = _database_cache()
    connection = backend and connections[router.db_for_write(backend.cache_model_class)]
    if connection is None or connection.vendor not in _UPSERT_VENDORS:
        return cache.add(key, value, timeout)
    now = timezone.now().replace(microsecond=0)
    parameters = [
        backend.make_key(key),
        _encoded(backend, value),
        _expires(connection, backend, timeout),
        connection.ops.adapt_datetimefield_value(now),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_add_sql(connection.vendor, backend._table), parameters)
        return cursor.rowcount == 1


def _encoded(backend, value):
    """A value as Django's database cache writes it: base64 of a pickle."""
    return base64.b64encode(pickle.dumps(value, backend.pickle_protocol)).decode("latin1")


def _expires(connection, backend, timeout):
    return connection.ops.adapt_datetimefield_value(
        datetime.fromtimestamp(backend.get_backend_timeout(timeout), tz=UTC).replace(microsecond=0)
    )


@functools.cache
def _add_sql(vendor, table):
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    key, value, expires = quote("cache_key"), quote("value"), quote("expires")
    return (
        f"INSERT INTO {quote(table)} ({key}, {value}, {expires}) VALUES (%s, %s, %s) "  # noqa: S608
        f"ON CONFLICT ({key}) DO UPDATE SET {value} = excluded.{value}, "
        f"{expires} = excluded.{expires} WHERE {quote(table)}.{expires} < %s"
    )


@functools.cache
def _select_sql(vendor, table, count):
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    # Quoted names only; the keys go as parameters.
    columns = f"{quote('cache_key')}, {quote('value')}, {quote('expires')}"
    places = ", ".join(["%s"] * count)
    return f"SELECT {columns} FROM {quote(table)} WHERE {quote('cache_key')} IN ({places})"  # noqa: S608


@functools.cache
def _upsert_sql(vendor, table, count=1):
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    key, value, expires = quote("cache_key"), quote("value"), quote("expires")
    rows = ", ".join(["(%s, %s, %s)"] * count)
    return (
        f"INSERT INTO {quote(table)} ({key}, {value}, {expires}) VALUES {rows} "  # noqa: S608
        f"ON CONFLICT ({key}) DO UPDATE SET {value} = excluded.{value}, "
        f"{expires} = excluded.{expires}"
    )


def _expires_converters(connection):
    return connection.ops.get_db_converters(_EXPIRES) + _EXPIRES.get_db_converters(connection)
