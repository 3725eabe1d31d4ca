"""Unchanged keyed GETs of the API answered before Django's handler.

A script polling ``GET /api/incidents`` gets, nearly every time, the answer it
got before. ``api/caching.py`` already serves that answer from the shared
store in one round trip (the generation, the stored answer and the key's
record in one read); what is left is Django's handler around it — the
middleware chain, the request signals, the response object — which costs more
than the answer. ``ApiFastPath`` (in the WSGI application of
statuspage/wsgi.py, behind the status page's ``FastPath``) answers such a
request itself, as the status page's fast path does:

- only ``GET`` of a URL under ``/api/`` with an ``x-api-key`` header, from an
  allowed host, whose stored answer Django has served in this process (its
  name, ``caching.cache_names``: the same rule as Django's path);
- the key's record in the shared cache is a usable key's (a revoked,
  deleted or renamed key leaves a tombstone there: incidents/models/keys.py)
  — anything else, a key not kept or not a key at all, goes to Django, which
  reads the database, refuses, or rate-limits;
- the answer is current for the generation read in that same round trip, so a
  write is seen by the very next request on every worker and host;
- the headers are those Django sent with the same answer, status and
  compression (its security headers, CSP, Cache-Control, Vary,
  Content-Encoding), learnt from its answer, with the entry's own ETag,
  Content-Type, Link and length; the bytes compressed as Django's path
  compresses them (``Shelf.sent_body``);
- no bump is pending and the cache has not just failed (``InFrontOfDjango``).

The key's use is recorded as on Django's path (``ApiKey.record_use``: once a
minute per key and process).
"""

from django.core.handlers.wsgi import WSGIRequest

from incidents.api.caching import RESPONSES, answered, cache_names
from incidents.cache.fast import OWN_HEADERS, STATUS_LINES, FastPath, InFrontOfDjango
from incidents.cache.store import accepts_gzip, is_not_modified
from incidents.models import ApiKey
from incidents.models.keys import record_name

# Not replayed from a learnt answer: the entry's own, or gunicorn's.
ENTRY_HEADERS = OWN_HEADERS | {"content-type", "link"}

# Headers learnt for at most this many stored answers (one per URL asked
# for), then learnt afresh: a client cannot grow a process without bound.
LEARNT_AT_MOST = 1024

# Answers counted per process (tests read them).
ANSWERED = {"fast": 0}


class ApiFastPath(InFrontOfDjango):
    answered = ANSWERED

    def __init__(self, application, prefix="/api/"):
        super().__init__(application)
        self.prefix = prefix
        # self.learnt: (stored answer's name, status, compressed) -> [(header, value)]

    def route(self, environ):
        """(the request, the names its answer may be kept under), or None."""
        if (
            environ.get("REQUEST_METHOD") != "GET"
            or not environ.get("PATH_INFO", "").startswith(self.prefix)
            or not environ.get("HTTP_X_API_KEY")
            or not FastPath.host_allowed(environ)
        ):
            return None
        try:
            request = WSGIRequest(environ)
            return request, cache_names(request)
        except Exception:
            return None  # a request Django must refuse (a path it cannot decode...)

    def answer(self, environ, routed):
        """(status line, headers, body) for an unchanged answer, or None."""
        request, names = routed
        packed = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
        name = next((name for name in names if (name, 200, packed) in self.learnt), None)
        raw = request.META["HTTP_X_API_KEY"]
        record = record_name(raw)
        if name is None or record is None:
            return None
        entry, found = RESPONSES.current_with(
            name, (record,), lambda entry: not is_not_modified(request, entry.etag)
        )
        key = ApiKey.objects.from_record(record, found)
        if entry is None or key is None:
            return None  # out of date, or the key is for Django to check
        status = 304 if is_not_modified(request, entry.etag) else 200
        learnt = self.learnt.get((name, status, packed))
        if learnt is None:
            return None
        key.record_use()
        headers = [*learnt, ("ETag", RESPONSES.sent_etag(entry, packed))]
        if status == 304:
            return STATUS_LINES[status], headers, b""
        body = RESPONSES.sent_body(entry, packed)
        headers += [
            ("Content-Type", entry.content_type),
            *entry.headers,
            ("Content-Length", str(len(body))),
        ]
        return STATUS_LINES[status], headers, body

    def learning(self, environ, routed, start_response):
        """``start_response`` for Django's answer: when it was a stored
        answer (``caching.answered``), its headers are learnt."""
        _request, names = routed
        answered.name = None  # set again by Django's path if it serves one

        def learn(status, headers, exc_info=None):
            code = int(status.split(" ", 1)[0])
            name = getattr(answered, "name", None)
            answered.name = None
            lowered = {header.lower() for header, _value in headers}
            packed = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING"))
            if (
                code in STATUS_LINES
                and name in names
                and "set-cookie" not in lowered
                and (code != 200 or packed == ("content-encoding" in lowered))
            ):
                kept = [(h, v) for h, v in headers if h.lower() not in ENTRY_HEADERS]
                with self.lock:
                    if len(self.learnt) >= LEARNT_AT_MOST:
                        self.learnt.clear()
                    self.learnt[(name, code, packed)] = kept
            return start_response(status, headers, exc_info)

        return learn
