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

Which writes count is said on each model: ``ShownOnPage`` for a model whose
rows a public face shows, ``NotShownOnPage`` for one none does. Every model
of the project says one or the other (tests/test_generation.py fails for one
that does not), so a new model shown on the page cannot go stale unnoticed.
"""

import logging
import secrets

from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

KEY = "kamustatus:generation"

logger = logging.getLogger(__name__)


def current():
    """The current token, creating one if the cache has none (or lost it)."""
    token = cache.get(KEY)
    if token is None:
        token = secrets.token_hex(8)
        if not cache.add(KEY, token, None):
            token = cache.get(KEY, token)
    return token


def _set_new_token():
    try:
        cache.set(KEY, secrets.token_hex(8), None)
    except Exception:
        # A cache outage must never fail a write; readers treat a missing
        # token as "unknown" and render afresh.
        logger.exception("could not bump the content generation")


def _cache_commits_with_the_data():
    """With the database cache (no REDIS_URL) the token set inside a write's
    transaction is part of that transaction: it commits, or rolls back, with
    the data, so no second token is needed after the commit."""
    return isinstance(caches["default"], DatabaseCache)


def _after_commit():
    if not _cache_commits_with_the_data():
        _set_new_token()


def bump(using=DEFAULT_DB_ALIAS):
    """Record that something the pages show has changed."""
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        _set_new_token()
        return
    savepoints = set(connection.savepoint_ids)
    for sids, func, _robust in connection.run_on_commit:
        if func is _after_commit and sids == savepoints:
            return  # already bumped in this (sub)transaction
    _set_new_token()
    transaction.on_commit(_after_commit, using=using, robust=True)


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
