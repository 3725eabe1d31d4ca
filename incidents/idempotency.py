"""Idempotency keys: a POST retried with the same ``Idempotency-Key`` writes once.

The contract: within 24 hours, a repeat with the same key (per API key) and
the same body gets the first answer again (status, body, ``Location``) and
writes nothing; the same key with another body gets 422
``idempotency_key_reused``; a repeat while the first is still running gets 409
``conflict``.

How: the first request claims the key by inserting a row in a transaction of
its own (the unique constraint picks one winner among parallel retries; the
others see the claim and answer 409, or the answer once it is there). The
winner then runs the handler and records the answer in one transaction, so
the write and its recorded answer commit together or not at all. A claim left
behind by a process that died mid-way had its write rolled back with it: after
``ABANDONED_AFTER`` it may be taken over, and a late finish of the old one
finds its claim gone and rolls back instead of writing twice.

Answers that say "try again" (409, 429, 5xx) are not kept: the claim is
released so that the retry runs afresh.
"""

import hashlib
from datetime import timedelta

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from incidents.cache.generation import NotShownOnPage

HEADER = "Idempotency-Key"
KEPT_FOR = timedelta(hours=24)
# Longer than any request may run (gunicorn's timeout, the statement timeout).
ABANDONED_AFTER = timedelta(minutes=2)
# Expired keys deleted per new claim: the table stays small without a sweep.
PURGE_BATCH = 100
MAX_LENGTH = 255


def is_valid_key(value):
    """1–255 printable ASCII characters (space to tilde)."""
    return 1 <= len(value) <= MAX_LENGTH and all(" " <= char <= "~" for char in value)


def fingerprint(method, path, body):
    """What makes a repeat the same request: the operation and the body's bytes."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode("utf-8", "surrogateescape"), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def is_kept(status):
    """Answers replayed to a repeat; the others invite a retry, which runs again."""
    return status < 500 and status not in (409, 429)


class IdempotencyKeyQuerySet(models.QuerySet):
    def expired(self, now):
        return self.filter(created_at__lt=now - KEPT_FOR)

    def purge_expired(self, now=None, limit=PURGE_BATCH):
        """Delete up to ``limit`` keys older than 24 h; returns how many."""
        now = now or timezone.now()
        stale = list(self.expired(now).order_by("created_at").values_list("pk", flat=True)[:limit])
        if not stale:
            return 0
        return self.filter(pk__in=stale).delete()[0]


class IdempotencyKey(NotShownOnPage, models.Model):
    api_key = models.ForeignKey("incidents.ApiKey", on_delete=models.CASCADE, editable=False)
    key = models.CharField(max_length=MAX_LENGTH)
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Null while the first request is still running.
    status = models.PositiveSmallIntegerField(null=True)
    body = models.BinaryField(default=b"")
    content_type = models.CharField(max_length=100, blank=True)
    location = models.TextField(blank=True)

    objects = IdempotencyKeyQuerySet.as_manager()

    class Meta:
        app_label = "incidents"
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_per_api_key")
        ]

    def __str__(self):
        return f"{self.key} ({self.status or 'in progress'})"

    @property
    def in_progress(self):
        return self.status is None

    def is_expired(self, now):
        return self.created_at < now - KEPT_FOR

    def is_abandoned(self, now):
        return self.in_progress and self.created_at < now - ABANDONED_AFTER


class KeyReused(Exception):
    """The key came with another request before."""


class InProgress(Exception):
    """The first request with this key has not finished yet."""


class Claim:
    """This request's hold on an idempotency key."""

    def __init__(self, record):
        self.record = record

    def finish(self, status, body, content_type, location):
        """Record the answer, in the transaction of the write. False if the claim
        was taken over meanwhile: the caller must roll back."""
        return bool(
            IdempotencyKey.objects.filter(pk=self.record.pk, status__isnull=True).update(
                status=status, body=body, content_type=content_type, location=location or ""
            )
        )

    def release(self):
        IdempotencyKey.objects.filter(pk=self.record.pk, status__isnull=True).delete()


def claim(api_key, key, request_hash, now=None):
    """A ``Claim`` for a new key, or the finished ``IdempotencyKey`` to replay.

    Raises ``KeyReused`` (another request came with it) or ``InProgress``.
    """
    now = now or timezone.now()
    for _attempt in range(3):
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    api_key=api_key, key=key, request_hash=request_hash, created_at=now
                )
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(api_key=api_key, key=key).first()
            if existing is None:
                continue  # released or purged meanwhile: claim again
            if existing.is_expired(now) or existing.is_abandoned(now):
                IdempotencyKey.objects.filter(
                    pk=existing.pk, status=existing.status, created_at=existing.created_at
                ).delete()
                continue
            if existing.request_hash != request_hash:
                raise KeyReused from None
            if existing.in_progress:
                raise InProgress from None
            return existing
        IdempotencyKey.objects.purge_expired(now)
        return Claim(record)
    raise InProgress
