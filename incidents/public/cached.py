"""Public responses kept as bytes in the shared cache, like the status page.

An entry is the rendered body with its ETag, stored with the content
generation read *before* the data and the moment it stops being true by the
clock (the next maintenance window edge). A request for unchanged content is
then one cache read (two keys at once) and no query on the models. The
mechanism is incidents/cache/store.py; the content type is the view's to send.
"""

from django.core.cache import cache  # noqa: F401 -- tests break it here to show an outage

from incidents.cache.store import Rendered, Shelf
from incidents.models import Incident

# v2: incidents.cache.store.Stored tuples. Entries for monitors that are gone
# must not live forever; a day is plenty for everything else, which is rebuilt
# on the first request anyway.
RESPONSES = Shelf("kamustatus:public:v2:", timeout=24 * 60 * 60, what="public", compressed=True)


def cached_body(name, build, store=True):
    """The entry for ``name`` (``.body``, ``.etag``), rebuilt with
    ``build(now)`` -> bytes (or None for "nothing there", which is not kept)
    when the content changed or a maintenance edge passed (``store`` False:
    built for this request alone). A cache outage costs speed, never an
    answer."""

    def render(now):
        body = build(now)
        if body is None:
            return None
        return Rendered(body, valid_until=Incident.objects.next_maintenance_edge(now))

    return RESPONSES.get_or_build(name, render, look_up=store)
