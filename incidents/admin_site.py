"""The operators' admin site: named after the status page, linking to it, and
speaking the page's time zone (its page settings, else PAGE_TIME_ZONE).

Every admin page is rendered with that zone active, so Django's own
machinery shows stored UTC times in it and reads typed times in it; each
time field and column says which zone that is (``zoned_label``).
"""

from functools import wraps
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpResponsePermanentRedirect
from django.urls import re_path
from django.utils import timezone
from django.utils.functional import lazy

from incidents.appearance.page import page_settings

LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def page_time_zone():
    return ZoneInfo(page_settings().time_zone)


def zone_label():
    """The zone as operators read it: ``Europe/Berlin``, or ``UTC``."""
    name = page_settings().time_zone
    return "UTC" if name in ("UTC", "Etc/UTC", "Etc/Zulu", "Zulu") else name


def _zoned(text):
    return f"{text} ({zone_label()})"


# A label naming the page's zone, read when shown (settings may change).
zoned_label = lazy(_zoned, str)


def zoned_help(text=""):
    """Help for a time field: the zone it is read in, and that UTC is stored."""
    return lazy(
        lambda: f"{text} In {zone_label()} time; stored in UTC.".strip(),
        str,
    )()


def local_time_column(field, label):
    """A list column (or read-only field) showing a stored time in the page's
    zone, headed with the zone's name."""

    @admin.display(description=zoned_label(label), ordering=field, empty_value="—")
    def column(self, obj):
        value = getattr(obj, field)
        if value is None:
            return "—"  # read-only fields would show "None"
        # As the admin's date and time inputs write it: what is shown is
        # what an operator would type.
        return timezone.localtime(value, page_time_zone()).strftime(LOCAL_TIME_FORMAT)

    column.__name__ = f"{field}_local"
    return column


class OperatorsAdminSite(admin.AdminSite):
    index_title = "Operations"
    site_url = "/"
    # The sidebar would take a quarter of a 1280 px screen from the lists;
    # the breadcrumbs and the index lead everywhere it does.
    enable_nav_sidebar = False

    @property
    def site_header(self):
        return page_settings().name

    @property
    def site_title(self):
        return page_settings().name

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def in_page_time_zone(request, *args, **kwargs):
            # Template responses render after the view returns: render them
            # here, while the page's zone is still the current one.
            with timezone.override(page_time_zone()):
                response = inner(request, *args, **kwargs)
                if callable(getattr(response, "render", None)) and not response.is_rendered:
                    response.render()
            return response

        return in_page_time_zone

    def get_urls(self):
        # Alerts were part of the incidents app until they became an app of
        # their own: their old addresses (bookmarks) lead to the new ones.
        moved = re_path(
            r"^incidents/(?P<model>alert|alertchannel|alertattempt|windowend)/(?P<rest>.*)$",
            moved_to_alerts,
        )
        return [moved, *super().get_urls()]

    def each_context(self, request):
        context = super().each_context(request)
        context["page_time_zone"] = zone_label()
        return context


def moved_to_alerts(request, model, rest):
    query = request.META.get("QUERY_STRING", "")
    target = f"{request.path[: -len(f'incidents/{model}/{rest}')]}alerts/{model}/{rest}"
    return HttpResponsePermanentRedirect(target + (f"?{query}" if query else ""))


class OperatorsAdminConfig(AdminConfig):
    default_site = "incidents.admin_site.OperatorsAdminSite"
