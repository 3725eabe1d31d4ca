"""The logo and the page's colours, at addresses named by their content: a
browser keeps them for a year, and a change in the admin gives them a new
address (the pages name the new one on their next request)."""

from django.http import Http404, HttpResponse
from django.views.decorators.http import require_safe

from incidents.appearance import logos
from incidents.appearance.models import PageSettings
from incidents.appearance.page import page_settings

FOREVER = "public, max-age=31536000, immutable"


@require_safe
def logo(request, name):
    page = page_settings()
    if not page.logo_url or name != page.logo_url.rsplit("/", 1)[-1]:
        raise Http404("No such logo.")
    row = PageSettings.objects.filter(pk=PageSettings.SINGLETON, logo_hash=page.logo_hash).first()
    if row is None or row.logo is None:
        raise Http404("No such logo.")
    response = HttpResponse(bytes(row.logo), content_type=row.logo_type)
    response["Cache-Control"] = FOREVER
    response["X-Content-Type-Options"] = "nosniff"
    # Replaces the site's policy: an SVG opened by itself runs nothing.
    response["Content-Security-Policy"] = logos.SERVED_POLICY
    response["Content-Disposition"] = "inline"
    return response


@require_safe
def look(request, digest):
    page = page_settings()
    if not page.look_hash or digest != page.look_hash:
        raise Http404("No such stylesheet.")
    response = HttpResponse(page.look, content_type="text/css; charset=utf-8")
    response["Cache-Control"] = FOREVER
    return response
