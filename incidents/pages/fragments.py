"""Rendered pieces of a page kept by what they show, so that a write re-renders
only the pieces it changed.

``{% fragment "kind" value value... %}…{% endfragment %}`` (the
``page_fragments`` tag library) renders its body once per distinct key and
reuses the bytes afterwards. The key is a hash of exactly what the body is
rendered from — the values the template passes (an incident's row values and
its timeline entries, a monitor's row and its days of uptime), the active
language and time zone, and the tag itself (each compiled tag has its own
serial, so a changed template never reuses an old piece) — so a kept piece can
never be stale: different inputs are a different key, and the same inputs
render the same bytes. Whatever the body shows must therefore be among the
values given to the tag (the clock included: pass the day, not ``now``).

Pieces are kept in this process (a bounded LRU): a key names immutable bytes,
so no process needs to ask another, and the page around them — what changes
with every write — is rendered as before. ``RENDERED`` counts the pieces
actually rendered, per kind (tests read it); ``disabled()`` renders every
piece afresh (the reference the kept ones are compared with).
"""

import contextlib
import hashlib
import threading
from collections import Counter, OrderedDict

from django.utils import timezone
from django.utils.translation import get_language

# How many pieces this process keeps: a page's monitors and cards in each
# offered language, with room for the previous versions of the changing ones.
KEPT = 2048

# Pieces rendered (not reused) by this process, per kind.
RENDERED = Counter()

_lock = threading.Lock()
_kept = OrderedDict()
_local = threading.local()


def key(serial, kind, values):
    """The key of a piece: its tag, its kind, the values it is rendered from,
    and the language and time zone it is rendered in."""
    text = repr((serial, kind, get_language(), timezone.get_current_timezone_name(), tuple(values)))
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def get_or_render(serial, kind, values, render):
    """The piece's bytes for these values: kept ones, else ``render()``'s."""
    if getattr(_local, "disabled", False):
        RENDERED[kind] += 1
        return render()
    name = key(serial, kind, values)
    with _lock:
        found = _kept.get(name)
        if found is not None:
            _kept.move_to_end(name)
            return found
    text = render()
    RENDERED[kind] += 1
    with _lock:
        _kept[name] = text
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    return text


@contextlib.contextmanager
def disabled():
    """Render every piece afresh in this thread while the block runs."""
    previous = getattr(_local, "disabled", False)
    _local.disabled = True
    try:
        yield
    finally:
        _local.disabled = previous


def forget():
    """Drop every kept piece (tests start from none)."""
    with _lock:
        _kept.clear()
