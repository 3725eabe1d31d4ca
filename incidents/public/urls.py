"""Public, keyless, read-only: Statuspage-compatible JSON under /api/v2/ and
status badges. Included before the keyed API, so these paths land here."""

from django.urls import path, re_path

from incidents.public import views

app_name = "public"

urlpatterns = [
    path("api/v2/status.json", views.status, name="status"),
    path("api/v2/summary.json", views.summary, name="summary"),
    path("api/v2/components.json", views.components, name="components"),
    path("api/v2/incidents.json", views.incidents, name="incidents"),
    path(
        "api/v2/incidents/unresolved.json",
        views.unresolved_incidents,
        name="incidents-unresolved",
    ),
    path(
        "api/v2/scheduled-maintenances.json",
        views.scheduled_maintenances,
        name="scheduled-maintenances",
    ),
    path(
        "api/v2/scheduled-maintenances/upcoming.json",
        views.upcoming_maintenances,
        name="scheduled-maintenances-upcoming",
    ),
    path(
        "api/v2/scheduled-maintenances/active.json",
        views.active_maintenances,
        name="scheduled-maintenances-active",
    ),
    # Anything else under /api/v2/ is ours too: a keyless JSON 404.
    re_path(r"^api/v2/(?P<path>.*)$", views.not_found, name="not-found"),
    path("badge.svg", views.overall_badge, name="badge"),
    path("badge/<str:monitor_id>/uptime.svg", views.uptime_badge, name="uptime-badge"),
    re_path(r"^badge/(?P<monitor_id>[^/]+)\.svg$", views.monitor_badge, name="monitor-badge"),
]
