"""The content generation: one shared token that changes whenever anything the
public pages show is written.

Readers (the status page, cached API responses) read the token *before* they
read the data and store what they render together with it; a reader whose
token differs from the stored one renders again. The token lives in the
default cache, which is shared by every worker and host (Redis or the
database), never in per-process memory.

With the database cache, a write sets a new token inside its transaction: it
commits (or rolls back) with the data, and every reader after the commit sees
it. With Redis, the shared token is set once, after the commit; until then
only the writing thread's own reads see a token of its own (its open
transaction's data is what they read), while every other reader keeps the
stored copies of the data it can still see — one render per write, not two
(one from the data as it was, under a token set before the commit, then one
more after it). Tokens are random rather than counters so that two writers
can never set the same value.

The token never stands still across a cache outage. A write whose new token
could not be set (the cache unreachable), a read that found the cache away
(another process may have written meanwhile) and a process that just started
(the database may have been restored from a backup, or new code deployed)
all leave a *pending bump*: the process replaces the token on its next
successful cache call, and a small thread of its own retries every
``RETRY_PENDING_EVERY`` seconds meanwhile, so a process that gets no request
does not hold the change back.

Which writes count is said on each model: ``ShownOnPage`` for a model whose
rows a public face shows, ``NotShownOnPage`` for one none does. Every model
of the project says one or the other (tests/test_generation.py fails for one
that does not), so a new model shown on the page cannot go stale unnoticed.

Beside the generation, a second token changes only with the page's settings
(``ShapesEveryPage``: the name, address and look every face is rendered
with). Each process keeps its copy of the settings under it
(incidents/appearance/page.py), so the many writes that leave the settings
alone do not make every process read them again. A write to the settings
changes both tokens, in the same way; a pending bump replaces both, as
the write it stands for may have been one to the settings. The settings token
costs no round trip of its own: it is read with the generation and with the
API key's record (incidents/cache/store.py ``read_with``), and what a request
has read is kept for the rest of it (``settings_read``).

A third token, the *systems* token, changes with every write too, except the
ones said to leave the status page's systems section alone
(``systems_unchanged``: an entry appended to an open ordinary incident, its
title, monitors and resolution untouched — what a refresh storm is made of).
What that section shows (the monitors, their groups and 90 days of bars,
which the incidents on the bars and the windows covering them go into) is
kept per process under it, with the page's windows and recent incidents, which
such a write leaves alone too (incidents/pages/views.py ``Systems``), so such a
write re-reads only the ongoing incidents. It is read with the other two and
set with them in the same way; a pending bump replaces it as well.
"""

import contextlib
import functools
import logging
import secrets
import threading
import time

from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.core.signals import request_finished, request_started
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from incidents.cache.database import read_many, write_many

KEY = "kamustatus:generation"
SETTINGS_KEY = "kamustatus:generation:settings"
SYSTEMS_KEY = "kamustatus:generation:systems"
TOKEN_KEYS = (KEY, SETTINGS_KEY, SYSTEMS_KEY)  # read together, always
# Every stored entry expires; a token that did is created again (and every
# stored page is then rendered once more, nothing worse).
TIMEOUT = 30 * 24 * 60 * 60

logger = logging.getLogger(__name__)


# How often a process retries a pending bump while the cache is away.
RETRY_PENDING_EVERY = 0.25

# A process starts with a bump pending: it cannot know what happened to the
# data (a restore from backup) or to the templates (a deploy) before it.
_pending = True
_retrier = None
_retrier_lock = threading.Lock()


# After the cache failed, requests in this process go without it until the
# pending bump goes through (the retry thread), or this long at most.
SKIP_CACHE_AFTER_FAILURE = 1.0
_cache_failed_at = None  # time.monotonic()


def is_pending():
    return _pending


def cache_recently_failed():
    """Skip the cache for now? A hung cache then costs one request its
    timeouts, not every request."""
    failed_at = _cache_failed_at
    return failed_at is not None and time.monotonic() - failed_at < SKIP_CACHE_AFTER_FAILURE


def mark_pending():
    """The cache was unreachable: a write may have happened without changing
    the token. Replace it as soon as the cache answers again."""
    global _pending, _retrier, _cache_failed_at
    if not _pending:
        logger.warning("content generation: a bump is pending until the cache answers again")
    _pending = True
    if _cache_commits_with_the_data():
        return  # no write commits without its token: nothing to catch up on
    _cache_failed_at = time.monotonic()
    with _retrier_lock:
        if _retrier is None or not _retrier.is_alive():
            _retrier = threading.Thread(target=_retry_pending, name="generation-bump", daemon=True)
            _retrier.start()


def _retry_pending():
    while _pending:
        time.sleep(RETRY_PENDING_EVERY)
        if _pending and _set_new_token(quiet=True):
            logger.warning("content generation: the pending bump is done")


def settle():
    """Before a read of the token: make a pending bump (cheap when none is).
    Quiet when the cache is still away: the caller's own call reports it."""
    if _pending:
        _set_new_token(quiet=True)


def current():
    """The current token, creating one if the cache has none (or lost it)."""
    return _current(KEY)


def settings_token():
    """The current settings token, read now (with the generation), creating
    one if the cache has none."""
    return _current(SETTINGS_KEY)


def _current(key):
    settle()
    found = read_many(list(TOKEN_KEYS))
    note_read(found)
    token = found.get(key)
    if token is None:
        token = secrets.token_hex(8)
        if not cache.add(key, token, TIMEOUT):
            token = cache.get(key, token)
        if key == SETTINGS_KEY and not _pending:
            _read.settings = token
        if key == SYSTEMS_KEY and not _pending:
            _read.systems = token
    return token


_read = threading.local()  # the settings and systems tokens this thread's request has read


def note_read(found):
    """After a read of the cache that asked for the settings and systems
    tokens (with what it reads anyway, see incidents/cache/store.py
    ``read_with``): the tokens this thread's open write has set in their
    place (``found`` is changed), and what it found kept for the rest of the
    request (``settings_read``, ``systems_read``)."""
    found.update(_own_tokens())
    # One read while a bump is pending is of a token about to be replaced.
    _read.settings = None if _pending else found.get(SETTINGS_KEY)
    _read.systems = None if _pending else found.get(SYSTEMS_KEY, _MISSING)


def settings_read():
    """The settings token the last read of this request found, or
    None: none since the request began (or outside one, the last of this
    thread's), or the token was missing, or a bump is pending."""
    return None if _pending else getattr(_read, "settings", None)


_MISSING = object()  # the systems token was read and not found


def systems_read():
    """The systems token the last read of this request found (read with the
    generation, before any data), or None as ``settings_read``."""
    found = None if _pending else getattr(_read, "systems", None)
    return None if found is _MISSING else found


def systems_missing():
    """Did the last read of this request find no systems token at all?"""
    return not _pending and getattr(_read, "systems", None) is _MISSING


def systems_token():
    """The current systems token, read now, created when the cache has none
    (expired, evicted or culled: every write but the ones that leave the
    systems section changes it, so it may go unrenewed for long)."""
    return _current(SYSTEMS_KEY)


def _forget_read(**kwargs):
    _read.settings = None
    _read.systems = None


request_started.connect(_forget_read, dispatch_uid="generation-request-started")
request_finished.connect(_forget_read, dispatch_uid="generation-request-finished")


# The systems token a writing thread sees until its commit (with Redis):
# nothing is kept under it, as the data read under it may never commit.
PROVISIONAL = "~"

# With Redis: the tokens a write's open transaction stands for, seen by the
# writing thread's own reads alone, until the commit sets the shared ones.
_own = threading.local()  # .tokens: (database alias, its step after the commit, {key: token})


def _own_tokens():
    """The tokens this thread's open write has set, while the step after its
    commit is still to come: none once it committed (the shared tokens are
    set) or rolled back (nothing changed), the savepoint it was made in
    included."""
    own = getattr(_own, "tokens", None)
    if own is None:
        return {}
    using, step, tokens = own
    if not any(entry is step for entry in transaction.get_connection(using).run_on_commit):
        _own.tokens = None
        return {}
    return tokens


def _set_own_tokens(using, settings, systems):
    """The first step of a bump with Redis, just after its step after the
    commit was registered: new tokens for this thread's reads, nothing
    shared."""
    tokens = dict(_own_tokens())
    tokens[KEY] = secrets.token_hex(8)
    if settings:
        tokens[SETTINGS_KEY] = secrets.token_hex(8)
    if systems:
        tokens[SYSTEMS_KEY] = PROVISIONAL + secrets.token_hex(8)
    step = transaction.get_connection(using).run_on_commit[-1]
    _own.tokens = (using, step, tokens)


def is_final(token):
    """Is ``token`` a systems token data may be kept under?"""
    return token is not None and not token.startswith(PROVISIONAL)


def _set_new_token(quiet=False, settings=False, systems=True):
    """Set a new token (the settings token as well with ``settings``, the
    systems token with ``systems``, both when the bump was pending); False
    (and the bump left pending) if the cache is away."""
    global _pending, _cache_failed_at
    values = {KEY: secrets.token_hex(8)}
    if settings or _pending:
        values[SETTINGS_KEY] = secrets.token_hex(8)
    if systems or _pending:
        values[SYSTEMS_KEY] = secrets.token_hex(8)
    try:
        write_many(values, TIMEOUT)
    except Exception as error:
        # A cache outage must never fail a write: the bump waits instead.
        if not quiet:
            logger.warning("could not bump the content generation: %r", error)
        mark_pending()
        return False
    _pending = False
    _cache_failed_at = None
    return True


def _cache_commits_with_the_data():
    """With the database cache (no REDIS_URL) the token set inside a write's
    transaction is part of that transaction: it commits, or rolls back, with
    the data, so no second token is needed after the commit."""
    return isinstance(caches["default"], DatabaseCache)


def _after_commit(settings, systems):
    if not _cache_commits_with_the_data():
        _own.tokens = None
        _set_new_token(settings=settings, systems=systems)


# The second step of a bump, one function per (settings, systems): a bump is
# covered by one already registered in its (sub)transaction that sets as much.
_AFTER = {
    (settings, systems): functools.partial(_after_commit, settings, systems)
    for settings in (False, True)
    for systems in (False, True)
}

_last = threading.local()  # what a ``bumped_last`` block has put off
_unchanged = threading.local()  # how deep in ``systems_unchanged`` blocks this thread is


@contextlib.contextmanager
def systems_unchanged():
    """Inside: the writes of this thread leave the status page's systems
    section alone (the monitors, groups, windows and the incidents on the
    bars), so their bumps leave the systems token as it is. Only for a write
    that is sure of it (``Incident.apply_change``)."""
    _unchanged.depth = getattr(_unchanged, "depth", 0) + 1
    try:
        yield
    finally:
        _unchanged.depth -= 1


def _changes_systems():
    return not getattr(_unchanged, "depth", 0)


def bump(using=DEFAULT_DB_ALIAS, settings=False, systems=None):
    """Record that something the pages show has changed (``settings``: the
    page's settings among it; ``systems``: the systems section among it —
    unless said otherwise, it is, outside a ``systems_unchanged`` block)."""
    if systems is None:
        systems = settings or _changes_systems()
    connection = transaction.get_connection(using)
    if settings:
        _forget_read()  # what this request read is out of date
    if not connection.in_atomic_block:
        _set_new_token(settings=settings, systems=systems)
        return
    if getattr(_last, "depth", 0):
        due_settings, due_systems = _last.due.get(using, (False, False))
        _last.due[using] = (due_settings or settings, due_systems or systems)
        return
    covered = {_AFTER[(s, y)] for s in (settings, True) for y in (systems, True)}
    savepoints = set(connection.savepoint_ids)
    for sids, func, _robust in connection.run_on_commit:
        if func in covered and sids == savepoints:
            return  # already bumped in this (sub)transaction
    # With the database cache this step commits with the data and is the
    # last; otherwise it is this thread's alone, and the step after the
    # commit sets the shared tokens.
    transaction.on_commit(_AFTER[(settings, systems)], using=using, robust=True)
    if _cache_commits_with_the_data():
        _set_new_token(settings=settings, systems=systems)
    else:
        _set_own_tokens(using, settings, systems)


@contextlib.contextmanager
def bumped_last():
    """Inside a write's transaction: the bumps its writes ask for are made
    once, when the block ends, instead of at the first of them. With the
    database cache the bump's upsert locks the one generation row until the
    commit; made last, it holds that lock for one statement, not for every
    write after it, so concurrent writers queue on it that much less. An
    exception leaves nothing to bump (the transaction rolls back)."""
    _last.depth = getattr(_last, "depth", 0) + 1
    if _last.depth == 1:
        _last.due = {}  # database alias -> (the page settings changed, the systems section did)
    try:
        yield
    finally:
        _last.depth -= 1
        due = _last.due if _last.depth == 0 else {}
    for using, (settings, systems) in sorted(due.items()):
        bump(using, settings=settings, systems=systems)


class ShownOnPage:
    """A model whose rows a public face shows (the status page, the public
    JSON, the API's stored answers): every save or delete of a row, and every
    change of a many-to-many relation through it, changes the generation.
    Bulk writes send no signals; they call ``bump()`` themselves."""

    shown_on_page = True
    shapes_every_page = False


class ShapesEveryPage(ShownOnPage):
    """The page's settings, which every public face is rendered with: a write
    changes the settings token as well as the generation, so every process
    reads them again (and keeps its copy across every other write)."""

    shapes_every_page = True


class NotShownOnPage:
    """A model no public face shows: its writes leave stored pages alone."""

    shown_on_page = False


def _changed(sender, using=DEFAULT_DB_ALIAS, **kwargs):
    bump(using=using)


def _settings_changed(sender, using=DEFAULT_DB_ALIAS, **kwargs):
    bump(using=using, settings=True)


def watch_shown_models(models):
    """Bump the generation on every write to the ``ShownOnPage`` models among
    ``models`` (run once, when the apps are ready)."""
    for model in models:
        # A many-to-many table Django made goes with the model declaring it.
        owner = model._meta.auto_created or model
        if getattr(owner, "shown_on_page", False) is not True:
            continue
        label = model._meta.label_lower
        changed = _settings_changed if owner.shapes_every_page else _changed
        for signal in (post_save, post_delete, m2m_changed):
            # m2m_changed is sent with the through model as sender.
            signal.connect(changed, sender=model, dispatch_uid=f"generation-{label}", weak=False)
