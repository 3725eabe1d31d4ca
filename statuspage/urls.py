from django.contrib import admin
from django.urls import include, path

from incidents import health
from incidents.ratelimit import protect_login

urlpatterns = [
    # For load balancers and supervisors: the database and the cache, asked each time.
    path("healthz", health.healthz, name="healthz"),
    path("robots.txt", health.robots, name="robots"),
    # The admin's own login view, refusing addresses that failed too often.
    path("admin/login/", protect_login(admin.site.login)),
    path("admin/", admin.site.urls),
    # Public, keyless, read-only: Statuspage-compatible JSON and badges.
    path("", include("incidents.public.urls")),
    # The keyed JSON API (its own JSON 404 for anything else under /api/).
    path("api/", include("incidents.api.urls")),
    # Subscribing, and the pages reached from subscribers' mails.
    path("", include("incidents.subscribers.urls")),
    # The page's logo and colours, set in the admin.
    path("", include("incidents.appearance.urls")),
    # The public status page, permalinks, history and feeds.
    path("", include("incidents.pages.urls")),
]
