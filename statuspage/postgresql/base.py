"""Django's PostgreSQL backend, except that a connection attempt that failed
is not made again to the same server for ``RETRY_CONNECT_AFTER`` seconds in
this process.

A request for the status page reads the database several times on its way to
the answer (the stored page, then the view's live data); while the server is
away each of those reads would open a connection again. When the server
hangs rather than refuses, every attempt waits the whole connect timeout, so
a visitor waited three or more timeouts (6 s and more with
DATABASE_CONNECT_TIMEOUT=2) before the outage copy (incidents/cache/outage.py)
answered. Here the first failure is remembered: the reads after it, in this
request and in any other of this process in the next second, fail at once
with the same error, and the copy answers after one timeout.

Only the first connection of a request is ever at stake: a connection that
failed mid-query is closed, and a new one is attempted as usual. With the
pool (DATABASE_POOL_SIZE) nothing changes: the pool connects in its own
threads, with its own back-off. The outage probe connects past this (it is
how the process learns the server is back).
"""

import threading
import time

from django.db.backends.postgresql import base

RETRY_CONNECT_AFTER = 1.0  # seconds

_lock = threading.Lock()
# (host, port, database) -> (monotonic time, error) of its last failed attempt
_failed = {}


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        if self.pool:
            return super().get_new_connection(conn_params)
        server = tuple(conn_params.get(part) for part in ("host", "port", "dbname"))
        with _lock:
            failed = _failed.get(server)
        if failed is not None and time.monotonic() - failed[0] < RETRY_CONNECT_AFTER:
            raise self.Database.OperationalError(f"not connecting again so soon after: {failed[1]}")
        try:
            connection = super().get_new_connection(conn_params)
        except self.Database.OperationalError as error:
            with _lock:
                _failed[server] = (time.monotonic(), error)
            raise
        with _lock:
            _failed.pop(server, None)
        return connection
