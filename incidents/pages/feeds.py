"""Feeds of incidents and maintenance windows, each item with its timeline.

Every link and id is absolute on the page's own URL (incidents/site.py): an
entry's id is its permalink, the same on every request. An entry is
published when it was posted and updated at its latest timeline entry (never
before it was published); the feed is updated at its latest entry's update —
never at a window's future start.
"""

import copy

from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext, pgettext

from incidents.appearance.page import page_settings
from incidents.cache.pages import page_name, serve
from incidents.cache.store import Rendered
from incidents.input_rules import xml_safe
from incidents.models import Incident
from incidents.overview import status_label
from incidents.site import is_own_url, page_url

FEED_LENGTH = 50


class IncidentFeed(Feed):
    description_template = "incidents/feed-item.html"
    # The page's base URL, set on the per-request copy made in __call__.
    base_url = ""
    now = None

    def title(self):
        return gettext("%(page_name)s incidents") % {"page_name": page_settings().name}

    def link(self):
        return self.base_url + reverse("status-page")

    def description(self):
        return gettext("Incidents and maintenance windows on the %(page_name)s status page.") % {
            "page_name": page_settings().name
        }

    def items(self):
        return Incident.objects.with_timeline().order_by("-created_at", "-id")[:FEED_LENGTH]

    def item_title(self, item):
        label = status_label(item, now=self.now)
        if item.is_maintenance:
            title = pgettext("feed item", "Maintenance: %(title)s (%(status)s)")
        else:
            title = pgettext("feed item", "Incident: %(title)s (%(status)s)")
        return title % {"title": item.title, "status": label}

    def item_link(self, item):
        return self.base_url + reverse("incident-page", args=[item.id])

    def item_guid(self, item):
        return self.item_link(item)

    item_guid_is_permalink = True

    def item_pubdate(self, item):
        return min(item.created_at, self.now)

    def item_updateddate(self, item):
        updates = item.timeline()
        latest = updates[-1].created_at if updates else item.created_at
        return min(max(latest, item.created_at), self.now)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        incident = kwargs["item"]
        context["incident"] = incident
        context["window"] = incident.window
        context["updates"] = [
            {"update": update, "label": status_label(incident, update)}
            for update in reversed(incident.timeline())
        ]
        return context

    def get_feed(self, obj, request):
        """The feed, with what XML 1.0 cannot carry stripped from every text:
        input refuses control characters, but rows stored before that rule
        may hold them, and one must not break the feed for everyone."""
        feed = super().get_feed(obj, request)
        feed.feed = {key: xml_safe(value) for key, value in feed.feed.items()}
        feed.items = [{key: xml_safe(value) for key, value in item.items()} for item in feed.items]
        return feed

    def __call__(self, request, *args, **kwargs):
        def build(now):
            feed = copy.copy(self)
            feed.base_url, feed.now = page_url(request), now or timezone.now()
            response = super(IncidentFeed, feed).__call__(request, *args, **kwargs)
            return Rendered(
                response.content,
                content_type=response["Content-Type"],
                # Window labels follow the clock.
                valid_until=Incident.objects.next_maintenance_edge(now),
            )

        # Links in a feed are absolute, so each base URL gets its own copy;
        # named by the address asked for, so that a stored feed is found
        # without reading the page settings — and stored only for the page's
        # own addresses (not for any Host a client sends).
        name = page_name(f"feed:{type(self).__name__}:{request.scheme}://{request.get_host()}")
        return serve(request, name, build, store=is_own_url(request))


class IncidentAtomFeed(IncidentFeed):
    feed_type = Atom1Feed

    def subtitle(self):
        return self.description()
