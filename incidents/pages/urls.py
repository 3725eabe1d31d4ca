from django.urls import path

from incidents.cache.outage import survives_outages
from incidents.pages import feeds, views

urlpatterns = [
    # Serves the last good copy while the database is unreachable.
    path("", survives_outages(views.status_page), name="status-page"),
    path("incidents/<str:incident_id>/", views.incident_page, name="incident-page"),
    path("monitors/<str:monitor_id>/", views.monitor_page, name="monitor-page"),
    path("history/", views.history, name="history"),
    path("feed.rss", feeds.IncidentFeed(), name="feed-rss"),
    path("feed.atom", feeds.IncidentAtomFeed(), name="feed-atom"),
    path("favicon.ico", views.favicon),
    # The language picker (links: works without JavaScript).
    path("language/<str:code>/", views.choose_language, name="choose-language"),
]
