"""The domain: monitors, incidents and their timeline, maintenance windows, API
keys and the audit trail, with every rule that governs them.

The API, the admin, the pages and the management commands all write through
the methods here; none of them re-implements a rule. One module per idea,
each importing the modules it builds on (and never one that builds on it):

- ``common``: ids, times, limits, ``Actor``, ``Conflict``;
- ``fields``: how a resource's fields are declared (``Field``, ``Resource``), once,
  with their rules and messages; each model module declares its own table;
- ``keys``: API keys; ``audit``: the audit trail;
- ``monitors``: monitors and their changes of status;
- ``incidents``: incidents, their timeline, links to monitors, windows;
- and the models kept beside the code that uses them: checks
  (``incidents/checks/models.py``), monitor groups (``incidents/groups/models.py``)
  and idempotency keys
  (``incidents/idempotency.py``), part of this app.

Everything is importable from ``incidents.models``. The domain imports no
face and no sub-app that reacts to it: alerts and subscribers are apps of their
own, told what happened by ``incidents.signals``.
"""

from incidents.checks.definition import clean_check
from incidents.checks.models import Check, CheckHourly, CheckResult, check_fields

# Groups of monitors and their order on the page (incidents/groups/), part of this app.
from incidents.groups.models import MonitorGroup  # noqa: E402 (builds on monitors)
from incidents.idempotency import IdempotencyKey
from incidents.models.audit import AuditRecord
from incidents.models.common import (
    DESCRIPTION_MAX_LENGTH,
    HTTP_URL,
    ID_ALPHABET,
    ID_LENGTH,
    MONITOR_ID_PATTERN,
    NAME_MAX_LENGTH,
    POSITION_MAX,
    TITLE_MAX_LENGTH,
    UNSET,
    URL_MAX_LENGTH,
    Actor,
    Conflict,
    clean_description,
    isostring,
    make_id,
    now_seconds,
)
from incidents.models.fields import Field, FieldError, Resource, api_name
from incidents.models.incidents import (
    INCIDENT,
    MAX_MONITOR_IDS,
    TIMELINE_ENTRY,
    DeletedMonitor,
    Incident,
    IncidentMonitor,
    IncidentQuerySet,
    IncidentUpdate,
    MaintenanceWindow,
    new_incident_id,
    new_update_id,
)
from incidents.models.keys import (
    API_KEY_DISPLAY_LENGTH,
    API_KEY_PREFIX,
    LAST_USED_RESOLUTION,
    ApiKey,
    ApiKeyQuerySet,
    hash_api_key,
)
from incidents.models.monitors import (
    MONITOR,
    MONITOR_PAGE_ORDER,
    Monitor,
    MonitorQuerySet,
    MonitorStatusChange,
    new_monitor_id,
)
from incidents.signals import monitor_status_changed

__all__ = [
    "DESCRIPTION_MAX_LENGTH",
    "MONITOR_PAGE_ORDER",
    "POSITION_MAX",
    "MonitorGroup",
    "clean_description",
    "API_KEY_DISPLAY_LENGTH",
    "API_KEY_PREFIX",
    "HTTP_URL",
    "ID_ALPHABET",
    "INCIDENT",
    "MAX_MONITOR_IDS",
    "MONITOR",
    "TIMELINE_ENTRY",
    "ID_LENGTH",
    "LAST_USED_RESOLUTION",
    "MONITOR_ID_PATTERN",
    "NAME_MAX_LENGTH",
    "TITLE_MAX_LENGTH",
    "UNSET",
    "URL_MAX_LENGTH",
    "Actor",
    "ApiKey",
    "ApiKeyQuerySet",
    "AuditRecord",
    "Check",
    "CheckHourly",
    "CheckResult",
    "Conflict",
    "DeletedMonitor",
    "Field",
    "FieldError",
    "Resource",
    "IdempotencyKey",
    "Incident",
    "IncidentMonitor",
    "IncidentQuerySet",
    "IncidentUpdate",
    "MaintenanceWindow",
    "Monitor",
    "MonitorQuerySet",
    "MonitorStatusChange",
    "api_name",
    "check_fields",
    "clean_check",
    "hash_api_key",
    "isostring",
    "make_id",
    "monitor_status_changed",
    "new_incident_id",
    "new_monitor_id",
    "new_update_id",
    "now_seconds",
]
