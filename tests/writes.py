"""What a committed write does to the stored pages, for tests that write with
bulk calls or raw SQL (which send no signal), or whose bump waits inside the
test's transaction for a commit that never comes: a new content generation
and a new systems token (incidents/cache/generation.py)."""

import secrets

from django.core.cache import cache

from incidents.cache import generation


def committed():
    cache.set_many(
        {generation.KEY: secrets.token_hex(8), generation.SYSTEMS_KEY: secrets.token_hex(8)}, None
    )
