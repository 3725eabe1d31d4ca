"""With REDIS_URL, a process keeps one Redis client and connection pool,
whatever thread asks (Django's RedisCache built one per thread)."""

import threading

import pytest
from django.core.cache import caches
from django.test import override_settings

from tests.servers import TEST_REDIS_URL, redis_caches, redis_or_skip

REDIS_URL = TEST_REDIS_URL


@pytest.fixture
def redis_cache():
    redis_or_skip()
    with override_settings(CACHES=redis_caches()):
        yield


def in_a_thread(function):
    result = []
    thread = threading.Thread(target=lambda: result.append(function()))
    thread.start()
    thread.join()
    return result[0]


def test_every_thread_uses_the_same_client_and_pool(redis_cache):
    caches["default"].set("shared", "value")
    clients = [caches["default"]._cache] + [
        in_a_thread(lambda: caches["default"]._cache) for _ in range(3)
    ]
    assert all(client is clients[0] for client in clients)
    # A thread of its own reads what another stored, through the one pool.
    assert in_a_thread(lambda: caches["default"].get("shared")) == "value"
    assert len(clients[0]._pools) == 1


def test_django_redis_cache_would_build_one_per_thread(redis_cache):
    """What the shared client fixes (fails if Django ever shares by itself:
    then the subclass can go)."""
    from django.core.cache.backends.redis import RedisCache

    params = {"TIMEOUT": 60}
    first = RedisCache(REDIS_URL, params)._cache
    assert RedisCache(REDIS_URL, params)._cache is not first
