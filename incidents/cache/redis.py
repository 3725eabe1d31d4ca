"""One Redis client, and so one connection pool, per process.

Django's ``RedisCache`` builds its client (and the client its connection
pool) per cache object, and ``django.core.cache.caches`` gives every thread
a cache object of its own: with gunicorn's gthread workers each thread then
opened its own pool and connections, and a cold thread paid a new TCP
connection on its first cached read. ``SharedRedisCache`` hands every cache
object of the same servers and options the same client, so a process keeps
one pool (redis-py's pool is thread-safe, and resets itself after a fork).
statuspage/settings.py uses it when ``REDIS_URL`` is set.
"""

import threading

from django.core.cache.backends.redis import RedisCache

_clients = {}
_clients_lock = threading.Lock()


class SharedRedisCache(RedisCache):
    @property
    def _cache(self):
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        client = _clients.get(key)
        if client is None:
            with _clients_lock:
                client = _clients.get(key)
                if client is None:
                    client = _clients[key] = self._class(self._servers, **self._options)
        return client
