"""gunicorn's settings, read by every start from the repository root (`make run`,
the README's production command, the tests): ``gunicorn statuspage.wsgi``.

Worker class: ``gthread``. A connection waits in the worker's selector, not in
a thread, until it sends something and between keep-alive requests; a thread
is taken only while a request is read and answered. So idle and slow clients
do not take the site down as they did with ``sync`` (one connection per
process: four clients sending a header byte per second stopped it). Each
thread keeps its own PostgreSQL connection: give PostgreSQL ``max_connections``
above workers × threads per host, or set DATABASE_POOL_SIZE to share a pool of
that many per worker (statuspage/settings.py). README.md "Slow clients"
has the measurements behind the numbers below.

Every value can be changed from the environment; command-line flags override
this file.
"""

import multiprocessing
import os


def _int(name, default):
    value = os.environ.get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}") from None


# Loopback unless told otherwise: in production a TLS proxy sits in front.
bind = os.environ.get("BIND") or f"127.0.0.1:{_int('PORT', 8000)}"

worker_class = "gthread"
# WEB_CONCURRENCY is the name gunicorn itself reads for the worker count.
workers = _int("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count())
# Per worker: this many requests at once, slow clients included.
threads = _int("WEB_THREADS", 64)

# A worker that stops answering its heartbeat this long is replaced.
timeout = _int("WEB_TIMEOUT", 30)
graceful_timeout = 30
# Idle keep-alive connections are held (in the selector) this long.
keepalive = 5

# The largest request line gunicorn accepts (its own maximum): longer URLs under
# /api/ reach the application and get the contract's JSON errors. Above it
# gunicorn itself answers 400 (plain HTML) before the application sees anything.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# Access log on stdout, without credentials (statuspage/accesslog.py).
accesslog = os.environ.get("ACCESS_LOG", "-") or None
logger_class = "statuspage.accesslog.AccessLogger"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
errorlog = "-"


def post_worker_init(worker):
    """Each worker renders the status page once for itself as it starts
    (incidents/pages/warm.py): the first visitors after a start do not wait
    for every monitor's row and bars to be rendered, once per worker."""
    from incidents.pages.warm import warm_in_background

    warm_in_background()
