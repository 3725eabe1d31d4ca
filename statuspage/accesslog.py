"""gunicorn's access log without secrets (``logger_class`` in gunicorn.conf.py).

A client may put a credential in the query string (``?key=km_…``): the API
refuses it, but gunicorn would still write the request line as sent. Here the
values of query parameters whose names look like credentials are replaced by
``[redacted]`` wherever the log could show them (the request line, the query,
the referrer), and credential headers are never available to a log format.
"""

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from gunicorn.glogging import Logger

REDACTED = "[redacted]"
# key, api_key, x-api-key, apikey, token, secret, password, auth, signature, session …
SENSITIVE_NAME = re.compile(r"key|token|secret|pass|auth|sig|session|cookie", re.IGNORECASE)
SENSITIVE_HEADERS = ("x-api-key", "authorization", "cookie", "proxy-authorization")


def redact_query(query):
    """The query string with credential-like values replaced (order kept)."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(SENSITIVE_NAME.search(name) for name, _ in pairs):
        return query
    return urlencode(
        [(name, REDACTED if SENSITIVE_NAME.search(name) else value) for name, value in pairs],
        safe="[]",
    )


def redact_target(target):
    """A request target or URL (``/path?query`` or ``https://host/path?query``)."""
    if "?" not in target:
        return target
    parts = urlsplit(target)
    return urlunsplit(parts._replace(query=redact_query(parts.query)))


class AccessLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["q"] = redact_query(atoms.get("q") or "")
        atoms["f"] = redact_target(atoms.get("f") or "-")
        method, _, rest = atoms["r"].partition(" ")
        target, _, protocol = rest.rpartition(" ")
        atoms["r"] = f"{method} {redact_target(target)} {protocol}"
        for name in SENSITIVE_HEADERS:
            atoms.pop("{" + name + "}i", None)
            atoms.pop("{http_" + name.replace("-", "_") + "}e", None)
        if "{raw_uri}e" in atoms:
            atoms["{raw_uri}e"] = redact_target(atoms["{raw_uri}e"])
        if "{query_string}e" in atoms:
            atoms["{query_string}e"] = redact_query(atoms["{query_string}e"])
        return atoms
