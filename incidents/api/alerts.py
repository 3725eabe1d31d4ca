"""``GET /api/alerts``: what was sent, failed or suppressed, for scripts that
audit alerting. Newest first, filtered by ``monitorId`` and ``outcome``, in
pages of at most 100 (``limit``, 50 by default) with a keyset cursor in the ``Link`` header.

Not cached: alerts change without touching the content generation.
"""

from urllib.parse import urlencode

from django import forms

from incidents.alerts.models import Alert
from incidents.api.decorators import api_view, authorize, dispatch, json_response
from incidents.api.paging import ID_RE, IncidentListQuery, keyset_page, next_page_headers


class AlertListQuery(forms.Form):
    """``GET /api/alerts`` query parameters."""

    monitorId = forms.CharField(required=False)  # noqa: N815 (the contract's name)
    outcome = forms.CharField(required=False)
    limit = forms.CharField(required=False)
    cursor = forms.CharField(required=False)

    # The same checks as the incident list: unknown, repeated or empty
    # parameters are refused by name before the fields are cleaned.
    from_request = classmethod(IncidentListQuery.from_request.__func__)
    clean_limit = IncidentListQuery.clean_limit
    clean_cursor = IncidentListQuery.clean_cursor

    def clean_monitorId(self):  # noqa: N802
        # A deleted monitor's alerts are kept: any well-formed id may be asked for.
        value = self.cleaned_data["monitorId"]
        if not value:
            return None
        if not ID_RE.fullmatch(value):
            raise forms.ValidationError("must be a monitor id such as mon_abc123")
        return value

    def clean_outcome(self):
        value = self.cleaned_data["outcome"]
        if not value:
            return []
        outcomes = [part.strip() for part in value.split(",")]
        if any(outcome not in Alert.OUTCOMES for outcome in outcomes):
            raise forms.ValidationError(
                "must be a comma-separated list of: " + ", ".join(Alert.OUTCOMES)
            )
        return list(dict.fromkeys(outcomes))


def alert_page(query):
    """One page of alerts, newest first, and the next cursor or None."""
    found = Alert.objects.newest_first()
    if query["monitorId"]:
        found = found.for_monitor(query["monitorId"])
    if query["outcome"]:
        found = found.filter(outcome__in=query["outcome"])
    return keyset_page(found, "created_at", query["cursor"], query["limit"])


def next_page_query(query, cursor):
    params = {}
    if query["monitorId"]:
        params["monitorId"] = query["monitorId"]
    if query["outcome"]:
        params["outcome"] = ",".join(query["outcome"])
    params["limit"] = query["limit"]
    params["cursor"] = cursor
    return urlencode(params)


@api_view
def alerts(request):
    return dispatch(request, GET=list_alerts)


@authorize
def list_alerts(request):
    query = AlertListQuery.from_request(request)
    page, cursor = alert_page(query)
    next_query = None if cursor is None else next_page_query(query, cursor)
    headers = next_page_headers(request, next_query)
    return json_response([alert.to_dict() for alert in page], headers=headers)
