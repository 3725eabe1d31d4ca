"""The webhook signature: ``Kamustatus-Signature: t=<unix time>,v1=<hex>``.

``v1`` is the hex HMAC-SHA256, keyed with the channel's secret, of the
timestamp, a dot and the raw request body (``f"{t}.{body}"``), as Stripe does.
A receiver recomputes it over the exact bytes it received, compares in
constant time, and rejects a timestamp too far from its own clock (a replay).
"""

import hashlib
import hmac
import time

HEADER = "Kamustatus-Signature"
DEFAULT_TOLERANCE = 300  # seconds


def compute(secret, timestamp, body):
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret, body, timestamp=None):
    timestamp = int(time.time() if timestamp is None else timestamp)
    return f"t={timestamp},v1={compute(secret, timestamp, body)}"


def verify(secret, header, body, tolerance=DEFAULT_TOLERANCE, now=None):
    """True when ``header`` signs ``body`` with ``secret`` within ``tolerance``
    seconds of ``now``. What a receiver does, here for tests and scripts."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        signatures = [v for k, v in (item.split("=", 1) for item in header.split(",")) if k == "v1"]
    except (AttributeError, KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = compute(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
