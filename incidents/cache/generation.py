"""The content generation: one shared token that changes whenever anything the
public pages show is written.

Readers (the status page, cached API responses) read the token *before* they
read the data and store what they render together with it; a reader whose
token differs from the stored one renders again. The token lives in the
default cache, which is shared by every worker and host (Redis or the
database), never in per-process memory.

A write sets a new token twice: at once, so that reads on the writing
connection (and, with the database cache, the commit itself) see it, and again
after the commit, so that a reader that rendered from the old data between the
two cannot keep its stale copy. Tokens are random rather than counters so that
two writers can never set the same value.

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
"""

import contextlib
import logging
import secrets
import threading
import time

from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from incidents.cache.database import write_one

KEY = "kamustatus:generation"
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
    settle()
    token = cache.get(KEY)
    if token is None:
        token = secrets.token_hex(8)
        if not cache.add(KEY, token, TIMEOUT):
            token = cache.get(KEY, token)
    return token


def _set_new_token(quiet=False):
    """Set a new token; False (and the bump left pending) if the cache is away."""
    global _pending, _cache_failed_at
    try:
        write_one(KEY, secrets.token_hex(8), TIMEOUT)
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


def _after_commit():
    if not _cache_commits_with_the_data():
        _set_new_token()


_last = threading.local()  # what a ``bumped_last`` block has put off


def bump(using=DEFAULT_DB_ALIAS):
    """Record that something the pages show has changed."""
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        _set_new_token()
        return
    if getattr(_last, "depth", 0):
        _last.due.add(using)
        return
    savepoints = set(connection.savepoint_ids)
    for sids, func, _robust in connection.run_on_commit:
        if func is _after_commit and sids == savepoints:
            return  # already bumped in this (sub)transaction
    _set_new_token()
    transaction.on_commit(_after_commit, using=using, robust=True)


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
        _last.due = set()
    try:
        yield
    finally:
        _last.depth -= 1
        due = _last.due if _last.depth == 0 else ()
    for using in sorted(due):
        bump(using)


class ShownOnPage:
    """A model whose rows a public face shows (the status page, the public
    JSON, the API's stored answers): every save or delete of a row, and every
    change of a many-to-many relation through it, changes the generation.
    Bulk writes send no signals; they call ``bump()`` themselves."""

    shown_on_page = True


class NotShownOnPage:
    """A model no public face shows: its writes leave stored pages alone."""

    shown_on_page = False


def _changed(sender, using=DEFAULT_DB_ALIAS, **kwargs):
    bump(using=using)


def watch_shown_models(models):
    """Bump the generation on every write to the ``ShownOnPage`` models among
    ``models`` (run once, when the apps are ready)."""
    for model in models:
        # A many-to-many table Django made goes with the model declaring it.
        owner = model._meta.auto_created or model
        if getattr(owner, "shown_on_page", False) is not True:
            continue
        label = model._meta.label_lower
        for signal in (post_save, post_delete, m2m_changed):
            # m2m_changed is sent with the through model as sender.
            signal.connect(_changed, sender=model, dispatch_uid=f"generation-{label}", weak=False)
