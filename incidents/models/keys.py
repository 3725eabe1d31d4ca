"""API keys: shown once, stored as a hash, revocable, with their last use.

Every API request checks its key, so a usable key's record is also kept in
the shared cache (Redis or the database's cache table), under a name made of
the key's hash — never the key itself — and a request reads it together with
the stored answer it wants, in one round trip (``Shelf.get_or_build``'s
``also``). Readers only ever *add* a record (after finding the key in the
database); every write to a key — a revoke, a save in the admin, a delete —
*sets* a tombstone in its place, so a reader that raced the write can never put
the old record back, and the next request on every worker and host asks the
database, which refuses a revoked or deleted key. Unknown keys are never kept
(incidents/ratelimit.py counts them instead). A cache that is away costs the
database lookup, never an answer; a tombstone it missed is outlived by the
record it should have replaced, which expires after ``RECORD_TIMEOUT``.
"""

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from django.core.cache import cache
from django.db import connections, models, transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from incidents.cache import generation, store
from incidents.cache.generation import NotShownOnPage

logger = logging.getLogger(__name__)

API_KEY_PREFIX = "km_"
API_KEY_DISPLAY_LENGTH = 10  # "km_" and 7 more characters
LAST_USED_RESOLUTION = timedelta(minutes=1)

# The shared cache's copy of a usable key: (pk, name, prefix, created_at).
RECORD_PREFIX = "kamustatus:apikey:v1:"
# A record outlives no tombstone it missed (the cache was away) by longer.
RECORD_TIMEOUT = 60
# What a write to a key leaves in its record's place: "ask the database". It
# must outlast any reader between its database lookup and its add (a request,
# which gunicorn ends after WEB_TIMEOUT).
TOMBSTONE = "tombstone"
TOMBSTONE_TIMEOUT = 10 * 60

# Read the shared cache (the default of ApiKey.objects.authenticate's ``found``).
READ = object()


def hash_api_key(raw):
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def _has_key_shape(raw):
    return isinstance(raw, str) and raw.startswith(API_KEY_PREFIX) and len(raw) <= 200


def record_name(raw):
    """Where the shared cache keeps the record of the key ``raw`` (a name made
    of its hash), or None for what cannot be a key at all."""
    return RECORD_PREFIX + hash_api_key(raw) if _has_key_shape(raw) else None


def _read_record(name):
    """``{name: value}`` of what the shared cache holds (``{}``: nothing), or
    None when it cannot be asked (away now, or a moment ago). Read with the
    generation and the settings token: a write's ``Location`` header then
    needs no read of its own after the commit (incidents/appearance/page.py)."""
    if generation.cache_recently_failed():
        return None
    try:
        return store.read_with([name])
    except Exception as error:
        logger.warning("API key cache unavailable, asking the database: %r", error)
        generation.mark_pending()  # as every reader of the cache does
        return None


def _bury(hashes):
    """Put a tombstone in the place of each key's record; False if the cache
    would not keep them all. Verified by reading them back: the database
    cache's ``set`` gives up silently when a reader's ``add`` inserted the
    same row meanwhile (the second try then updates it)."""
    names = [RECORD_PREFIX + digest for digest in hashes]
    try:
        for _attempt in range(3):
            cache.set_many(dict.fromkeys(names, TOMBSTONE), TOMBSTONE_TIMEOUT)
            found = store.read_many(names)
            names = [name for name in names if found.get(name) != TOMBSTONE]
            if not names:
                return True
    except Exception as error:
        logger.warning("could not tell the cache that an API key changed: %r", error)
    else:
        logger.warning("the cache did not keep the news that an API key changed")
    return False


def forget_keys(hashes, using):
    """Every worker's next request with these keys asks the database. At once
    (with the database cache this commits, or rolls back, with the write), and
    with Redis again after the commit, as the content generation is bumped."""
    hashes = list(hashes)
    if not hashes:
        return
    if not _bury(hashes):
        logger.warning(
            "a changed API key may be accepted as it was for up to %s seconds", RECORD_TIMEOUT
        )
    if not generation._cache_commits_with_the_data():
        transaction.on_commit(lambda: _bury(hashes), using=using, robust=True)


class ApiKeyQuerySet(models.QuerySet):
    def usable(self):
        return self.filter(revoked_at__isnull=True)

    def create_key(self, name):
        """Make a new key; returns (ApiKey, raw key). The raw key is never stored."""
        raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
        key = self.create(
            name=name, prefix=raw[:API_KEY_DISPLAY_LENGTH], key_hash=hash_api_key(raw)
        )
        return key, raw

    def authenticate(self, raw, found=READ):
        """The usable key for a presented raw key, or None.

        Its record in the shared cache when there is one, else the database
        (and the record is then added for the next request). ``found``: what
        a read of the cache that asked for ``record_name(raw)`` among other
        names returned (a dict), or None when the cache is not to be used (it
        just failed); by default the record is read here."""
        name = record_name(raw)
        if name is None:
            return None
        if found is READ:
            found = _read_record(name)
        kept = self.from_record(name, found)
        if kept is not None:
            return kept
        value = found.get(name) if found is not None else None
        key = self._from_database(raw)
        if key is not None and found is not None and value != TOMBSTONE:
            try:
                cache.add(name, key.cache_record(), RECORD_TIMEOUT)
            except Exception as error:
                logger.warning("could not keep an API key's record in the cache: %r", error)
        return key

    def from_record(self, name, found):
        """The usable key whose record ``name`` is among ``found`` (a cache
        read's dict, or None), without asking the database; None when the
        record is not there or is a tombstone."""
        value = found.get(name) if found is not None else None
        if not (isinstance(value, tuple) and len(value) == 4):
            return None
        pk, key_name, prefix, created_at = value
        # The fields a request uses; last_used_at is read only if asked for.
        return self.model.from_db(
            self.db,
            ["id", "name", "prefix", "key_hash", "created_at", "revoked_at"],
            [pk, key_name, prefix, name.removeprefix(RECORD_PREFIX), created_at, None],
        )

    def _from_database(self, raw):
        digest = hash_api_key(raw)
        # Building the query through the ORM costs three times what running it
        # does: usable() spelled out in plain SQL (the hash is a bound parameter).
        table = connections[self.db].ops.quote_name(self.model._meta.db_table)
        sql = f"SELECT * FROM {table} WHERE key_hash = %s AND revoked_at IS NULL"  # noqa: S608
        key = next(iter(self.raw(sql, [digest])), None)
        if key is None or not hmac.compare_digest(key.key_hash, digest):
            return None
        return key

    def update(self, **changes):
        """Every update but the last use's leaves tombstones for the keys it
        changed (revoke() updates, and so may anyone in a shell), so the
        cache never answers for a key as it was."""
        if set(changes) <= {"last_used_at"}:
            return super().update(**changes)
        with transaction.atomic(using=self.db):
            rows = list(self.values_list("pk", "key_hash"))
            # Exactly the rows whose tombstones are set, with the filter kept.
            count = super(ApiKeyQuerySet, self.filter(pk__in=[pk for pk, _ in rows])).update(
                **changes
            )
            forget_keys([digest for _, digest in rows], self.db)
        return count


# When this process last wrote each key's last use (key hash -> datetime).
_last_recorded = {}
_MAX_RECORDED = 10_000


class ApiKey(NotShownOnPage, models.Model):
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=API_KEY_DISPLAY_LENGTH, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self):
        return self.revoked_at is not None

    def cache_record(self):
        """What the shared cache keeps of a usable key (ApiKeyQuerySet.authenticate)."""
        return (self.pk, self.name, self.prefix, self.created_at)

    def revoke(self):
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            ApiKey.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
                revoked_at=self.revoked_at
            )

    def record_use(self, now=None):
        """Remember the last use to the minute, so that reads do not turn into
        writes: this process writes at most once a minute per key (it keeps
        when it last did), and the database only when the stored time is
        older than that."""
        now = now or timezone.now()
        last = _last_recorded.get(self.key_hash)
        if last is not None and timedelta(0) <= now - last < LAST_USED_RESOLUTION:
            return
        if len(_last_recorded) >= _MAX_RECORDED:
            _last_recorded.clear()
        _last_recorded[self.key_hash] = now
        self.last_used_at = now
        ApiKey.objects.filter(pk=self.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)


def _key_written(sender, instance, using, created=False, **kwargs):
    if not created:  # a new key's hash cannot have a record yet
        forget_keys([instance.key_hash], using)


post_save.connect(_key_written, sender=ApiKey, dispatch_uid="apikey-record-save", weak=False)
post_delete.connect(_key_written, sender=ApiKey, dispatch_uid="apikey-record-delete", weak=False)
