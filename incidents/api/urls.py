from django.urls import path, re_path

from incidents.api import alerts, checks, groups, openapi, uptime, views
from incidents.subscribers import api as subscribers

app_name = "api"

urlpatterns = [
    path("incidents", views.incidents, name="incidents"),
    path("incidents/<str:incident_id>", views.incident, name="incident"),
    path(
        "incidents/<str:incident_id>/updates/<str:update_id>",
        views.incident_update,
        name="incident_update",
    ),
    path("monitors", views.monitors, name="monitors"),
    path("monitors/<str:monitor_id>", views.monitor, name="monitor"),
    path("monitors/<str:monitor_id>/checks", checks.results, name="monitor-checks"),
    path("monitors/<str:monitor_id>/uptime", uptime.uptime, name="monitor-uptime"),
    path("groups", groups.groups, name="groups"),
    path("groups/<str:group_id>", groups.group, name="group"),
    path("alerts", alerts.alerts, name="alerts"),
    path("subscribers", subscribers.subscribers, name="subscribers"),
    path("subscribers/<str:subscriber_id>", subscribers.subscriber, name="subscriber"),
    path("openapi.json", openapi.document, name="openapi"),
    # Every other path under /api/ answers a JSON 404, never an HTML page.
    re_path(r"^", views.not_found),
]
