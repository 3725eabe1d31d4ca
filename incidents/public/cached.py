"""Public responses kept as bytes in the shared cache, like the status page.

An entry is the rendered body with its ETag, stored with the content
generation read *before* the data and the moment it stops being true by the
clock (the next maintenance window edge). A request for unchanged content is
then one cache read (two keys at once) and no query on the models.
"""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

from incidents import generation
from incidents.models import Incident

logger = logging.getLogger(__name__)

KEY_PREFIX = "kamustatus:public:"
# Entries for monitors that are gone must not live forever; a day is plenty
# for everything else, which is rebuilt on the first request anyway.
ENTRY_TIMEOUT = 24 * 60 * 60


@dataclass(frozen=True)
class Entry:
    body: bytes
    etag: str
    generation: str | None
    valid_until: datetime | None

    @classmethod
    def from_cache(cls, stored):
        # Kept as a plain tuple, so that a new release reads an old entry.
        try:
            body, etag, token, valid_until = stored
        except (TypeError, ValueError):
            return None
        return cls(body=body, etag=etag, generation=token, valid_until=valid_until)

    def to_cache(self):
        return (self.body, self.etag, self.generation, self.valid_until)

    def is_fresh(self, token, now):
        return (
            token is not None
            and self.generation == token
            and (self.valid_until is None or now < self.valid_until)
        )


def etag_for(body):
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def cached_body(name, build):
    """The entry for ``name``, rebuilt with ``build(now)`` -> bytes (or None
    for "nothing there", which is not kept) when the content changed or a
    maintenance edge passed. A cache outage costs speed, never an answer."""
    key = KEY_PREFIX + name
    token = entry = None
    try:
        found = cache.get_many([generation.KEY, key])
        token = found.get(generation.KEY) or generation.current()
        entry = found.get(key)
    except Exception as error:
        # No traceback per request while the cache is down: one line is enough.
        logger.warning("public response cache unavailable, rendering afresh: %r", error)
    now = timezone.now()
    entry = Entry.from_cache(entry)
    if entry is not None and entry.is_fresh(token, now):
        return entry
    body = build(now)
    if body is None:
        return None
    entry = Entry(
        body=body,
        etag=etag_for(body),
        generation=token,
        valid_until=Incident.objects.next_maintenance_edge(now),
    )
    if token is not None:
        try:
            cache.set(key, entry.to_cache(), ENTRY_TIMEOUT)
        except Exception as error:
            logger.warning("could not keep a public response in the cache: %r", error)
    return entry
