"""API keys: shown once, stored as a hash, revocable, with their last use."""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import connections, models
from django.db.models import Q
from django.utils import timezone

from incidents.cache.generation import NotShownOnPage

API_KEY_PREFIX = "km_"
API_KEY_DISPLAY_LENGTH = 10  # "km_" and 7 more characters
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_api_key(raw):
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


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

    def authenticate(self, raw):
        """The usable key for a presented raw key, or None."""
        if not isinstance(raw, str) or not raw.startswith(API_KEY_PREFIX) or len(raw) > 200:
            return None
        digest = hash_api_key(raw)
        # Every API request pays for this lookup, and building the query
        # through the ORM costs three times what running it does: usable()
        # spelled out in plain SQL (the hash is a bound parameter).
        table = connections[self.db].ops.quote_name(self.model._meta.db_table)
        sql = f"SELECT * FROM {table} WHERE key_hash = %s AND revoked_at IS NULL"  # noqa: S608
        key = next(iter(self.raw(sql, [digest])), None)
        if key is None or not hmac.compare_digest(key.key_hash, digest):
            return None
        return key


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

    def revoke(self):
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            ApiKey.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
                revoked_at=self.revoked_at
            )

    def record_use(self, now=None):
        """Remember the last use, writing at most once a minute per key so that
        reads do not turn into writes."""
        now = now or timezone.now()
        if self.last_used_at is not None and now - self.last_used_at < LAST_USED_RESOLUTION:
            return
        self.last_used_at = now
        ApiKey.objects.filter(pk=self.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
