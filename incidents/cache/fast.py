"""The unchanged status page answered before Django's handler.

During an outage nearly every request is for ``/`` (or its live part, which
htmx fetches every few seconds) and nearly every answer is a stored page that
has not changed. Django's handler around that answer — the request object,
the request signals, the middleware chain, the response object — costs more
than the answer itself, so ``FastPath`` (the WSGI application in
statuspage/wsgi.py) answers such a request itself, as WhiteNoise answers a
file: one round trip to the shared store (``PAGES.current``: the content
generation and the page's summary), then this process's copy of the bytes, or
a 304.

It answers only when it can answer exactly as Django would; anything else
goes to Django, unchanged:

- only ``GET``/``HEAD`` of ``/`` without a query string, from an allowed host;
- the language is the one ``incidents.languages.visitor_language`` picks, and
  the page settings it is picked with (the default language) were read under
  the very settings token the lookup returned — after a change of settings
  the request goes to Django, which reads them again;
- the headers are those Django sent for the same page, scheme, status and
  encoding (gzip or none: incidents/cache/pages.py ``compressed``), learnt
  from its answer (security headers, CSP, Vary, Content-Language…), with the
  stored entry's own ETag, Last-Modified and length;
- the last good copy on disk (incidents/cache/outage.py) is that entry's, and
  not due to be touched: otherwise Django's path keeps it;
- no bump is pending, the cache and the data have not just failed.

So the shared store decides freshness exactly as on Django's path: a write is
seen by the very next request on every worker and host.
"""

import threading
import time

from django.conf import settings
from django.db import connections
from django.http.cookie import parse_cookie
from django.http.request import HttpHeaders, split_domain_port, validate_host
from django.utils.http import http_date

from incidents.appearance import page as page_settings
from incidents.cache import generation, outage
from incidents.cache.pages import PAGES
from incidents.cache.store import accepts_gzip, is_not_modified
from incidents.languages import visitor_language

# Not replayed from a learnt answer: they are the entry's own, or gunicorn's.
OWN_HEADERS = {"etag", "last-modified", "content-length", "date", "server", "connection"}
STATUS_LINES = {200: "200 OK", 304: "304 Not Modified"}

# Answers counted per process (tests read them).
ANSWERED = {"fast": 0}


class _Visitor:
    """What ``visitor_language`` and ``is_not_modified`` read of a request."""

    def __init__(self, environ):
        self.environ = environ
        self.method = environ["REQUEST_METHOD"]
        self.headers = HttpHeaders(environ)
        cookie = environ.get("HTTP_COOKIE")
        self.COOKIES = parse_cookie(cookie) if cookie else {}


class InFrontOfDjango:
    """A WSGI application answering some requests itself before Django's
    handler, and passing every other one to Django (``application``).

    ``route(environ)`` says what a request is for (None: Django's);
    ``answer(environ, what)`` gives (status line, headers, body) or None (any
    doubt: Django's), asked only while no bump is pending and the cache has
    not just failed; ``learning(environ, what, start_response)`` wraps
    Django's ``start_response`` to learn from its answer. ``answered`` counts
    the answers given in front."""

    answered = None  # {"fast": count}, per class

    def __init__(self, application):
        self.application = application
        self.learnt = {}
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        what = self.route(environ)
        if what is None:
            return self.application(environ, start_response)
        try:
            answer = None
            if not (generation.is_pending() or generation.cache_recently_failed()):
                answer = self.answer(environ, what)
        except Exception:
            answer = None  # Django's path decides, and logs what it must
        finally:
            _after_request(connections["default"])
        if answer is None:
            return self.application(environ, self.learning(environ, what, start_response))
        status, headers, body = answer
        start_response(status, headers)
        self.answered["fast"] += 1
        return [body]


def _after_request(connection):
    """What Django does after every request: a connection past its age (or
    any, with the pool) is closed, or returned to the pool; one that failed is
    closed unless it still answers.

    Unlike Django, a connection that answered this request's query without an
    error stays marked as checked: Django would check it again (``SELECT 1``,
    a round trip as dear as the lookup itself, with CONN_HEALTH_CHECKS) before
    the next request's first query. The next request answered here needs no
    check: if the connection died meanwhile its lookup fails, the connection
    is closed here, and Django's path (which checks at its start, as always)
    answers on a new one."""
    answered = (
        connection.connection is not None
        and connection.health_check_done
        and not connection.errors_occurred
    )
    connection.close_if_unusable_or_obsolete()
    if answered and connection.connection is not None:
        connection.health_check_done = True


class FastPath(InFrontOfDjango):
    answered = ANSWERED

    def __init__(self, application, path="/"):
        super().__init__(application)
        self.path = path
        # self.learnt: (page name, scheme, status, gzip) -> [(header, value)]

    def route(self, environ):
        return self.page_name(environ)

    def page_name(self, environ):
        """The stored page this request is for, or None: Django answers it."""
        if (
            environ.get("REQUEST_METHOD") not in ("GET", "HEAD")
            or environ.get("PATH_INFO") != self.path
            or environ.get("QUERY_STRING")
            or not self.host_allowed(environ)
        ):
            return None
        live = environ.get("HTTP_HX_REQUEST") == "true" and (
            environ.get("HTTP_HX_HISTORY_RESTORE_REQUEST") != "true"
        )
        return "status:live" if live else "status"

    @staticmethod
    def host_allowed(environ):
        if settings.USE_X_FORWARDED_HOST or "HTTP_HOST" not in environ:
            return False
        domain, _port = split_domain_port(environ["HTTP_HOST"])
        return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)

    @staticmethod
    def scheme(environ):
        header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
        return (environ.get("wsgi.url_scheme"), environ.get(header[0]) if header else None)

    def answer(self, environ, kind):
        """(status line, headers, body) for an unchanged page, or None."""
        if outage._live_data_failed_at is not None:
            return None
        kept = page_settings._kept
        if kept is None:
            return None
        visitor = _Visitor(environ)
        name = f"{kind}:{visitor_language(visitor)}"
        _token, _found, entry = PAGES.current(
            name, lambda entry: not is_not_modified(visitor, entry.etag, entry.last_modified)
        )
        if (
            entry is None
            or kept[0][0] != generation.settings_read()
            or page_settings._kept is not kept
        ):
            return None  # out of date, or settings read under another settings token
        saved_etag, touched = outage._saved.get(name, (None, 0.0))
        if saved_etag != entry.etag or time.monotonic() - touched >= outage.TOUCH_INTERVAL:
            return None  # the last good copy is Django's path to keep
        status = 304 if is_not_modified(visitor, entry.etag, entry.last_modified) else 200
        packed = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
        learnt = self.learnt.get((name, self.scheme(environ), status, packed))
        if learnt is None:
            return None
        headers = [
            *learnt,
            ("ETag", PAGES.sent_etag(entry, packed)),
            ("Last-Modified", http_date(entry.last_modified)),
        ]
        body = b""
        if status == 200:
            content = PAGES.sent_body(entry, packed)
            headers.append(("Content-Length", str(len(content))))
            if visitor.method == "GET":
                body = content
        return STATUS_LINES[status], headers, body

    def learning(self, environ, kind, start_response):
        """``start_response`` for Django's answer to a page request: its
        headers are learnt for the next answers of the same page."""

        def learn(status, headers, exc_info=None):
            code = int(status.split(" ", 1)[0])
            names = {header.lower() for header, _value in headers}
            language = next((v for h, v in headers if h.lower() == "content-language"), None)
            if code in STATUS_LINES and "etag" in names and "set-cookie" not in names and language:
                kept = [(h, v) for h, v in headers if h.lower() not in OWN_HEADERS]
                packed = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
                if code == 200 and packed != ("content-encoding" in names):
                    return start_response(status, headers, exc_info)  # not a stored page's
                with self.lock:
                    key = (f"{kind}:{language}", self.scheme(environ), code, packed)
                    self.learnt[key] = kept
            return start_response(status, headers, exc_info)

        return learn
