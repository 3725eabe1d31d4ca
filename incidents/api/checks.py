"""``GET /api/monitors/:id/checks``: a monitor's recent check results, newest
first, in pages of at most 100 (``limit``, 50 by default) with a keyset cursor
in the ``Link`` header. Not cached: results land without a write the content
generation tracks."""

from urllib.parse import urlencode

from django import forms

from incidents.api.decorators import (
    api_view,
    authorize,
    dispatch,
    invalid,
    json_response,
    not_found_error,
)
from incidents.api.paging import ID_RE, IncidentListQuery, keyset_page
from incidents.models import CheckResult, Monitor

CURSOR_HELP = "is not a cursor from this API; use the link in the previous response"


class ResultListQuery(forms.Form):
    limit = forms.CharField(required=False)
    cursor = forms.CharField(required=False)

    from_request = classmethod(IncidentListQuery.from_request.__func__)
    clean_limit = IncidentListQuery.clean_limit
    clean_cursor = IncidentListQuery.clean_cursor


@api_view
def results(request, monitor_id):
    return dispatch(request, monitor_id, GET=list_results)


@authorize
def list_results(request, monitor_id):
    if not ID_RE.fullmatch(monitor_id) or not Monitor.objects.filter(pk=monitor_id).exists():
        raise not_found_error("monitor")
    query = ResultListQuery.from_request(request)
    if query["cursor"] is not None and not query["cursor"][1].isdigit():
        raise invalid({"cursor": CURSOR_HELP})  # a cursor from another list
    found = CheckResult.objects.filter(monitor_id=monitor_id).order_by("-checked_at", "-id")
    page, cursor = keyset_page(found, "checked_at", query["cursor"], query["limit"])
    headers = {}
    if cursor is not None:
        params = urlencode({"limit": query["limit"], "cursor": cursor})
        headers["Link"] = f'<{request.build_absolute_uri(f"{request.path}?{params}")}>; rel="next"'
    return json_response([result.to_dict() for result in page], headers=headers)
