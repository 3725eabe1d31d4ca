"""Real processes for the tests that need them: gunicorn serving a throwaway
Kamustatus, ``manage.py`` commands and workers run as a production host would
run them, a TCP proxy a test can cut, and free loopback ports.

Every test that starts a process uses these, so how a server is started,
waited for and stopped is written once.
"""

import atexit
import contextlib
import itertools
import json
import os
import random
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def _own_ports():
    """This test process's ports: below the kernel's ephemeral range (where
    ``bind(0)`` and outgoing connections take theirs), a block of its own per
    pytest-xdist process. A port picked now and listened on a few seconds
    later is then never picked by another test process meanwhile."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker.removeprefix("gw")) if worker.removeprefix("gw").isdigit() else 0
    first = 20_000 + 500 * (index % 24)
    ports = list(range(first, first + 500))
    random.shuffle(ports)
    return itertools.cycle(ports)


_ports = _own_ports()
_ports_lock = threading.Lock()


def free_port():
    """A loopback port nobody listens on right now, from this process's own
    block (one after another, so a port just given out is not given again
    soon)."""
    with _ports_lock:
        for _ in range(500):
            port = next(_ports)
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue  # taken (another service, or still closing)
                return port
    raise RuntimeError("no free port in this test process's block")


def secret_key():
    """A throwaway SECRET_KEY strong enough for a production start."""
    return secrets.token_urlsafe(50)


def environment(*, drop=("REDIS_URL",), **values):
    """This process's environment without the variables whose names start
    with one of ``drop``, with ``values`` set: what a subprocess gets."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(tuple(drop))}
    env.update(values)
    return env


def manage(env, *args, timeout=180, check=True, **kwargs):
    """Run ``manage.py`` with ``env``; a failure shows its output."""
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


# What every throwaway SQLite site starts from, made once per test session:
# migrating a new file takes seconds, copying a migrated one milliseconds.
_templates = {}
_templates_lock = threading.Lock()


def _template(what, make):
    with _templates_lock:
        if what not in _templates:
            directory = Path(tempfile.mkdtemp(prefix=f"kamustatus-{what}-"))
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            make(directory)
            _templates[what] = directory
        return _templates[what]


def _template_env(directory):
    return environment(
        drop=("REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE"),
        SECRET_KEY=secret_key(),
        DEBUG="0",
        DATABASE_URL=f"sqlite:///{directory / 'db.sqlite3'}",
        STATIC_ROOT=str(directory / "static"),
    )


def migrated_sqlite(path):
    """A migrated SQLite database at ``path``, as ``manage.py migrate`` makes
    one: a copy (SQLite's online backup) of one migrated once per session."""
    directory = _template(
        "migrated", lambda d: manage(_template_env(d), "migrate", "--noinput", "-v0")
    )
    source = sqlite3.connect(directory / "db.sqlite3")
    target = sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return path


def collected_static(path):
    """``path`` filled as ``manage.py collectstatic`` fills a STATIC_ROOT: a
    copy of one collected once per session."""
    directory = _template(
        "static", lambda d: manage(_template_env(d), "collectstatic", "--noinput", "-v0")
    )
    shutil.copytree(directory / "static", path, dirs_exist_ok=True)
    return path


def database_url_like(connection, name):
    """A URL for the database ``name`` on the server of ``connection`` (PostgreSQL)."""
    params = connection.settings_dict
    user = params["USER"] or "postgres"
    password = f":{params['PASSWORD']}" if params["PASSWORD"] else ""
    host = params["HOST"] or "127.0.0.1"
    port = params["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{name}"


@contextlib.contextmanager
def empty_database(connection, directory, label):
    """The URL of a new, empty database of the same kind as ``connection``'s:
    a SQLite file in ``directory``, or a PostgreSQL database dropped after."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{Path(directory) / f'{label}.sqlite3'}"
        return
    import psycopg

    name = f"{connection.settings_dict['NAME']}_{label}_{secrets.token_hex(4)}"
    server_url = database_url_like(connection, "postgres")
    # CREATE/DROP DATABASE cannot run in the test's transaction: a side connection.
    with psycopg.connect(server_url, autocommit=True) as server:
        server.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url_like(connection, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def http(base, method, path, body=None, key=None, timeout=30):
    """``(status, headers, text)`` of one request; ``body`` sent as JSON,
    ``key`` as ``x-api-key``. Error statuses are answers, not exceptions."""
    request = urllib.request.Request(base + path, method=method)
    if key:
        request.add_header("x-api-key", key)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, data=data, timeout=timeout) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def stop(process, timeout=20):
    """TERM, then KILL if it does not finish in time; its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def start_worker(env, *args):
    """``manage.py worker`` as a process of its own, its output in a pipe."""
    return subprocess.Popen(
        [PYTHON, "manage.py", "worker", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class Gunicorn:
    """gunicorn serving the project with ``env`` on a free loopback port,
    its log in ``log_path``."""

    def __init__(self, env, log_path, *, workers=2, options=()):
        self.env = env
        self.log_path = Path(log_path)
        self.workers = workers
        self.options = list(options)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self, ready_path="/", timeout=60):
        """Start, and return once ``ready_path`` answers 200."""
        self.log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "statuspage.wsgi", "--bind", f"127.0.0.1:{self.port}"]
            + ["--workers", str(self.workers), *self.options],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_text()
            try:
                with urllib.request.urlopen(self.url + ready_path, timeout=5) as response:  # noqa: S310
                    if response.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("gunicorn did not start:\n" + self.log_text())

    def log_text(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def is_running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        if self.process is not None:
            stop(self.process, timeout=15)
            self.log.close()


class Site:
    """A throwaway Kamustatus: its own SQLite file and static root, served by
    gunicorn on a free loopback port (DEBUG off, as in production)."""

    def __init__(self, directory, workers=4, *, own_static=True, gunicorn_options=(), **environ):
        self.directory = Path(directory)
        self.database = self.directory / "db.sqlite3"
        if own_static:
            environ.setdefault("STATIC_ROOT", str(self.directory / "static"))
        self.env = environment(
            drop=("REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE"),
            SECRET_KEY=secret_key(),
            DEBUG="0",
            **{
                "DATABASE_URL": f"sqlite:///{self.database}",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                **environ,
            },
        )
        self.server = Gunicorn(
            self.env, self.directory / "gunicorn.log", workers=workers, options=gunicorn_options
        )
        self.port, self.url = self.server.port, self.server.url

    def manage(self, *args):
        return manage(self.env, *args, timeout=120).stdout

    def prepare(self, collectstatic=True):
        """Migrated (and its static files collected), with an API key."""
        migrated_sqlite(self.database)
        if collectstatic and "STATIC_ROOT" in self.env:
            collected_static(self.env["STATIC_ROOT"])
        elif collectstatic:
            self.manage("collectstatic", "--noinput", "--verbosity", "0")
        self.api_key = self.manage("createapikey", "tests").strip().splitlines()[-1]
        return self

    def start(self, ready_path="/"):
        self.server.start(ready_path, timeout=30)
        return self

    def stop(self):
        self.server.stop()

    def log_text(self):
        """What gunicorn wrote: its access log and errors."""
        return self.server.log_text()

    def get(self, path, headers=None):
        request = urllib.request.Request(self.url + path, headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, dict(response.headers), response.read().decode()

    def api(self, method, path, body):
        request = urllib.request.Request(
            self.url + "/api" + path,
            data=json.dumps(body).encode(),
            method=method,
            headers={"x-api-key": self.api_key, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read() or b"null")


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to ``target`` until ``cut()``; ``restore()``
    listens on the same port again."""

    def __init__(self, target):
        self.target = target
        self.port = free_port()
        self.lock = threading.Lock()
        self.sockets = set()
        self.listener = None

    def start(self, forward=True):
        """Listen; with ``forward=False``, accept connections and never answer
        (a database that hangs rather than refuses)."""
        self.forward = forward
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    restore = start

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            if not self.forward:
                with self.lock:
                    self.sockets.add(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._close(source)
            self._close(sink)

    def _close(self, sock):
        with self.lock:
            self.sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self):
        # shutdown() first: a bare close() leaves a thread blocked in accept()
        # holding the socket open, still listening.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self.lock:
            live = list(self.sockets)
        for sock in live:
            self._close(sock)


@contextlib.contextmanager
def api_site(directory, cache, **environ):
    """Two gunicorn workers serving the API of a throwaway site, started,
    stopped after; ``cache``: "database cache" or "redis" (a key prefix of
    its own on TEST_REDIS_URL; skipped without Redis)."""
    if cache == "redis":
        redis_or_skip()
        environ |= {
            "REDIS_URL": TEST_REDIS_URL,
            "CACHE_KEY_PREFIX": f"kamu-test-{secrets.token_hex(4)}",
        }
    site = Site(directory, workers=2, own_static=False, ALLOWED_HOSTS="127.0.0.1", **environ)
    site.prepare(collectstatic=False).start(ready_path="/api/openapi.json")
    try:
        yield site
    finally:
        site.stop()


# Redis for the tests that use it: db 3 unless TEST_REDIS_URL says otherwise.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/3")


def redis_or_skip():
    """Skip the test unless Redis answers at TEST_REDIS_URL."""
    import pytest

    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError:
        pytest.skip("needs Redis")


def redis_caches():
    """``CACHES`` for the project's Redis cache, under a key prefix of this
    call's own (tests share the Redis database)."""
    return {
        "default": {
            "BACKEND": "incidents.cache.redis.SharedRedisCache",
            "LOCATION": TEST_REDIS_URL,
            "KEY_PREFIX": f"kamu-test-{secrets.token_hex(4)}",
            "TIMEOUT": 60,
        }
    }
