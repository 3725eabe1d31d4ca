"""The incident list's query string: filters, ``limit`` and the keyset cursor.

A cursor names the last incident of a page by its place in the order
(``startedAt`` to the microsecond, then ``id``); the next page is whatever
comes after that place. Incidents added meanwhile sort before it (or, for a
backdated window, take their own place) and never shift or repeat what is
still to come, unlike an OFFSET.
"""

import base64
import binascii
import re
from datetime import UTC, datetime
from urllib.parse import urlencode

from django import forms
from django.db.models import Q

from incidents.api.decorators import invalid
from incidents.models import Incident, Monitor
from incidents.site import absolute

DEFAULT_LIMIT = 50
MAX_LIMIT = 100

CURSOR_RE = re.compile(r"[A-Za-z0-9_-]{1,200}", re.ASCII)
CURSOR_CONTENT_RE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6})\|([A-Za-z0-9_]{1,40})",
    re.ASCII,
)
CURSOR_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
ID_RE = re.compile(r"[A-Za-z0-9_]{1,40}", re.ASCII)


def encode_cursor(moment, row_id):
    """An opaque cursor for a row at ``moment`` with ``row_id`` (newest-first lists)."""
    raw = f"{moment.astimezone(UTC).strftime(CURSOR_FORMAT)}|{row_id}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def keyset_page(rows, field, cursor, limit):
    """One page of ``rows`` (ordered by ``-field, -id``) after ``cursor`` (a decoded
    (moment, id) or None), and the next page's cursor or None."""
    if cursor:
        moment, row_id = cursor
        rows = rows.filter(Q(**{f"{field}__lt": moment}) | Q(**{field: moment, "id__lt": row_id}))
    page = list(rows[: limit + 1])
    if len(page) <= limit:
        return page, None
    last = page[limit - 1]
    return page[:limit], encode_cursor(getattr(last, field), last.id)


def decode_cursor(cursor):
    """(startedAt, id) from a cursor this API wrote, or ValueError."""
    if not CURSOR_RE.fullmatch(cursor):
        raise ValueError(cursor)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError(cursor) from None
    match = CURSOR_CONTENT_RE.fullmatch(raw)
    if match is None:
        raise ValueError(cursor)
    started_at = datetime.strptime(match[1], CURSOR_FORMAT).replace(tzinfo=UTC)
    incident_id = match[2]
    # Only the canonical spelling is accepted: one cursor per position.
    canonical = base64.urlsafe_b64encode(raw.encode("ascii")).decode("ascii").rstrip("=")
    if canonical != cursor:
        raise ValueError(cursor)
    return started_at, incident_id


class IncidentListQuery(forms.Form):
    """``GET /api/incidents`` query parameters."""

    status = forms.CharField(required=False)
    maintenance = forms.CharField(required=False)
    monitorId = forms.CharField(required=False)  # noqa: N815 (the contract's name)
    limit = forms.CharField(required=False)
    cursor = forms.CharField(required=False)

    @classmethod
    def from_request(cls, request):
        """The validated query, or a validation_error naming each bad parameter."""
        errors = {}
        for name in request.GET:
            if name not in cls.base_fields:
                shown = name if len(name) <= 100 else name[:100] + "…"
                errors[shown] = "unknown query parameter; allowed: " + ", ".join(cls.base_fields)
            elif len(request.GET.getlist(name)) > 1:
                errors[name] = "must be given once"
            elif not request.GET[name].strip():
                errors[name] = "must not be empty"
        if errors:
            raise invalid(errors)
        form = cls(request.GET)
        if not form.is_valid():
            raise invalid({name: " ".join(messages) for name, messages in form.errors.items()})
        return form.cleaned_data

    def clean_status(self):
        value = self.cleaned_data["status"]
        if not value:
            return []
        statuses = [part.strip() for part in value.split(",")]
        wrong = [status for status in statuses if status not in Incident.STATUSES]
        if wrong:
            raise forms.ValidationError(
                "must be a comma-separated list of: " + ", ".join(Incident.STATUSES)
            )
        return list(dict.fromkeys(statuses))

    def clean_maintenance(self):
        value = self.cleaned_data["maintenance"]
        if not value:
            return None
        if value not in ("true", "false"):
            raise forms.ValidationError("must be true or false")
        return value == "true"

    def clean_monitorId(self):  # noqa: N802
        value = self.cleaned_data["monitorId"]
        if not value:
            return None
        if not ID_RE.fullmatch(value) or not Monitor.objects.filter(pk=value).exists():
            raise forms.ValidationError(f"unknown monitor id: {value[:100]}")
        return value

    def clean_limit(self):
        value = self.cleaned_data["limit"]
        if not value:
            return DEFAULT_LIMIT
        if not re.fullmatch(r"[0-9]{1,6}", value, re.ASCII) or not (1 <= int(value) <= MAX_LIMIT):
            raise forms.ValidationError(f"must be a whole number from 1 to {MAX_LIMIT}")
        return int(value)

    def clean_cursor(self):
        value = self.cleaned_data["cursor"]
        if not value:
            return None
        try:
            return decode_cursor(value)
        except ValueError:
            raise forms.ValidationError(
                "is not a cursor from this API; use the link in the previous response"
            ) from None


def incident_page(query):
    """One page of incidents, newest startedAt first, and the next cursor or None."""
    incidents = Incident.objects.with_timeline().newest_first()
    if query["status"]:
        incidents = incidents.filter(status__in=query["status"])
    if query["maintenance"] is True:
        incidents = incidents.maintenance()
    elif query["maintenance"] is False:
        incidents = incidents.not_maintenance()
    if query["monitorId"]:
        incidents = incidents.for_monitor(query["monitorId"])
    return keyset_page(incidents, "started_at", query["cursor"], query["limit"])


def next_page_headers(request, next_query):
    """A list page's headers: ``Link: <…>; rel="next"`` with the next page's
    query string, when there is a next page (``next_query`` not None)."""
    if next_query is None:
        return {}
    url = absolute(f"{request.path}?{next_query}", request)
    return {"Link": f'<{url}>; rel="next"'}


def next_page_query(query, cursor):
    """The query string of the next page: the same filters and limit, a new cursor."""
    params = {}
    if query["status"]:
        params["status"] = ",".join(query["status"])
    if query["maintenance"] is not None:
        params["maintenance"] = "true" if query["maintenance"] else "false"
    if query["monitorId"]:
        params["monitorId"] = query["monitorId"]
    params["limit"] = query["limit"]
    params["cursor"] = cursor
    return urlencode(params)
