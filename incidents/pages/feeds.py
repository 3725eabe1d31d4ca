"""Feeds of incidents and maintenance windows, each item with its timeline."""

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed

from incidents.cache.pages import serve
from incidents.cache.store import Rendered
from incidents.models import Incident

FEED_LENGTH = 50


class IncidentFeed(Feed):
    description_template = "incidents/feed-item.html"

    def title(self):
        return f"{settings.KAMUSTATUS_PAGE_NAME} incidents"

    def link(self):
        return reverse("status-page")

    def description(self):
        return (
            f"Incidents and maintenance windows on the {settings.KAMUSTATUS_PAGE_NAME} status page."
        )

    def items(self):
        return Incident.objects.with_timeline().newest_first()[:FEED_LENGTH]

    def item_title(self, item):
        kind = "Maintenance" if item.is_maintenance else "Incident"
        return f"{kind}: {item.title} ({item.get_status_display()})"

    def item_link(self, item):
        return reverse("incident-page", args=[item.id])

    def item_guid(self, item):
        return item.id

    item_guid_is_permalink = False

    def item_pubdate(self, item):
        return item.started_at

    def item_updateddate(self, item):
        updates = item.timeline()
        return updates[-1].created_at if updates else item.started_at

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        incident = kwargs["item"]
        context["incident"] = incident
        context["window"] = incident.window
        context["updates"] = list(reversed(incident.timeline()))
        return context

    def __call__(self, request, *args, **kwargs):
        def build(now):
            response = super(IncidentFeed, self).__call__(request, *args, **kwargs)
            return Rendered(response.content, content_type=response["Content-Type"])

        # Links in a feed are absolute, so each (allowed) host gets its own copy.
        name = f"feed:{type(self).__name__}:{request.scheme}://{request.get_host()}"
        return serve(request, name, build)


class IncidentAtomFeed(IncidentFeed):
    feed_type = Atom1Feed

    def subtitle(self):
        return self.description()
