from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # Public, keyless, read-only: Statuspage-compatible JSON and badges.
    path("", include("incidents.public.urls")),
    # The keyed JSON API (its own JSON 404 for anything else under /api/).
    path("api/", include("incidents.api.urls")),
    # The public status page, permalinks, history and feeds.
    path("", include("incidents.pages.urls")),
]
