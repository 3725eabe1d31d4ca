"""Validation without a framework.

Each endpoint declares its body as a ``Spec`` of ``Field``s (type, enum,
length, required, nullable); one function checks a body against it, refusing
unknown keys, and the same declaration writes the OpenAPI request schema, so
the document cannot drift from what is enforced. Query strings go through
Django forms.
"""

import re
from datetime import UTC, datetime, timedelta, timezone

from django.core.exceptions import ValidationError

from incidents.api.decorators import invalid
from incidents.checks import definition as check_definition
from incidents.groups.models import GROUP_ID_HELP, GROUP_ID_PATTERN
from incidents.models import (
    DESCRIPTION_MAX_LENGTH,
    MONITOR_ID_PATTERN,
    NAME_MAX_LENGTH,
    POSITION_MAX,
    TITLE_MAX_LENGTH,
    URL_MAX_LENGTH,
    Incident,
    Monitor,
    clean_position,
)

STRING, BOOLEAN, TIMESTAMP, STRING_LIST = "string", "boolean", "timestamp", "string list"
INTEGER = "integer"  # checked by the domain's own function (``cleaner``) within ``schema``
OBJECT = "object"  # cleaned by the domain's own function (``cleaner``)

# PostgreSQL refuses NUL in text, and no database stores a lone surrogate.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
NO_NUL_PATTERN = "^[^\\u0000]*$"
NOT_BLANK_PATTERN = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"

TIMESTAMP_RE = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]"
    r"(?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.[0-9]+)?"
    r"(?:(?P<utc>[Zz])|(?P<sign>[+-])(?P<hours>[0-9]{2}):(?P<minutes>[0-9]{2}))?",
    re.ASCII,
)
TIMESTAMP_EXAMPLE = "2025-06-01T02:00:00Z"


class FieldError(Exception):
    pass


def parse_timestamp(value):
    """An RFC 3339 timestamp as an aware UTC datetime, whole seconds.

    Offsets (``+02:00``) are normalised to UTC and fractions of a second
    dropped; a timestamp without a timezone is refused, never guessed.
    """
    if not isinstance(value, str):
        raise FieldError(f"must be an RFC 3339 timestamp string such as {TIMESTAMP_EXAMPLE}")
    match = TIMESTAMP_RE.fullmatch(value)
    if match is None:
        raise FieldError(f"must be an RFC 3339 timestamp such as {TIMESTAMP_EXAMPLE}")
    if not match["utc"] and not match["sign"]:
        raise FieldError(
            "must include a timezone: Z for UTC or an offset such as +02:00 "
            f"(e.g. {TIMESTAMP_EXAMPLE})"
        )
    try:
        naive = datetime.strptime(f"{match['date']}T{match['time']}", "%Y-%m-%dT%H:%M:%S")
        offset = timedelta(0)
        if match["sign"]:
            hours, minutes = int(match["hours"]), int(match["minutes"])
            if hours > 23 or minutes > 59:
                raise ValueError("offset out of range")
            offset = timedelta(hours=hours, minutes=minutes)
            if match["sign"] == "-":
                offset = -offset
        return naive.replace(tzinfo=timezone(offset)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise FieldError("is not a valid date and time") from None


class Field:
    """One key of a JSON body."""

    def __init__(
        self,
        kind,
        *,
        required=False,
        nullable=False,
        choices=None,
        max_length=None,
        not_blank=False,
        pattern=None,
        pattern_help=None,
        max_items=None,
        description="",
        example=None,
        schema=None,
        cleaner=None,
    ):
        self.kind = kind
        self.cleaner = cleaner
        self.required = required
        self.nullable = nullable
        self.choices = choices
        self.max_length = max_length
        self.not_blank = not_blank
        self.pattern = re.compile(pattern) if pattern else None
        self.pattern_help = pattern_help or (f"must match {pattern}" if pattern else None)
        self.max_items = max_items
        self.description = description
        self.example = example
        self.extra_schema = schema or {}

    def clean(self, value):
        if value is None:
            if self.nullable:
                return None
            raise FieldError("must not be null")
        if self.kind == BOOLEAN:
            if not isinstance(value, bool):
                raise FieldError("must be true or false")
            return value
        if self.kind == TIMESTAMP:
            return parse_timestamp(value)
        if self.kind == OBJECT:
            return self.cleaner(value)  # raises a ValidationError naming sub-fields
        if self.kind == INTEGER:
            try:
                return self.cleaner(value)
            except ValidationError as exc:
                raise FieldError(" ".join(exc.messages)) from None
        if self.kind == STRING_LIST:
            if not isinstance(value, list):
                raise FieldError("must be an array of strings")
            if self.max_items is not None and len(value) > self.max_items:
                raise FieldError(f"must have at most {self.max_items} items")
            for item in value:
                if not isinstance(item, str):
                    raise FieldError("must be an array of strings")
                if UNSTORABLE.search(item):
                    raise FieldError("must not contain NUL characters or unpaired surrogates")
            return value
        return self.clean_string(value)

    def clean_string(self, value):
        if not isinstance(value, str):
            if self.choices:
                raise FieldError("must be one of: " + ", ".join(self.choices))
            raise FieldError("must be a string")
        if self.choices and value not in self.choices:
            raise FieldError("must be one of: " + ", ".join(self.choices))
        if UNSTORABLE.search(value):
            raise FieldError("must not contain NUL characters or unpaired surrogates")
        if self.not_blank and not value.strip():
            raise FieldError("must not be empty")
        if self.max_length is not None and len(value) > self.max_length:
            raise FieldError(f"must be at most {self.max_length} characters")
        if self.pattern and not self.pattern.fullmatch(value):
            raise FieldError(self.pattern_help)
        return value

    def schema(self):
        """This field as JSON Schema (2020-12, as OpenAPI 3.1 uses)."""
        if self.kind == OBJECT:
            schema = dict(self.extra_schema)
            if self.nullable:
                schema = {"oneOf": [*schema.pop("oneOf"), {"type": "null"}], **schema}
            return schema
        if self.kind == BOOLEAN:
            schema = {"type": "boolean"}
        elif self.kind == INTEGER:
            schema = {"type": "integer"}
        elif self.kind == TIMESTAMP:
            schema = {"type": "string", "format": "date-time"}
        elif self.kind == STRING_LIST:
            schema = {
                "type": "array",
                "items": {"type": "string", "pattern": NO_NUL_PATTERN},
                "uniqueItems": True,
            }
            if self.max_items is not None:
                schema["maxItems"] = self.max_items
        elif self.choices:
            schema = {"type": "string", "enum": list(self.choices)}
        else:
            schema = {"type": "string"}
            if self.pattern:
                schema["pattern"] = self.pattern.pattern
            else:
                schema["pattern"] = NOT_BLANK_PATTERN if self.not_blank else NO_NUL_PATTERN
            if self.not_blank:
                schema["minLength"] = 1
            if self.max_length is not None:
                schema["maxLength"] = self.max_length
        schema.update(self.extra_schema)
        if self.nullable:
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]
            schema["type"] = [schema["type"], "null"]
        if self.description:
            schema["description"] = self.description
        if self.example is not None:
            schema["examples"] = [self.example]
        return schema


class Spec:
    """The body of one endpoint: its fields, and the rules that tie them."""

    def __init__(
        self, fields, *, read_only=(), non_empty=False, rules=(), schema_rules=None, example=None
    ):
        self.fields = fields
        self.read_only = tuple(read_only)
        self.non_empty = non_empty
        self.rules = rules
        self.schema_rules = schema_rules or {}
        self.example = example

    def clean(self, body):
        """The given fields, checked and converted; raises a validation_error."""
        if not isinstance(body, dict):
            raise invalid({}, "The body must be a JSON object.")
        errors = {}
        for name in body:
            if name in self.fields:
                continue
            shown = name if len(name) <= 100 else name[:100] + "…"
            if name in self.read_only:
                errors[shown] = "is read-only and cannot be set here"
            else:
                errors[shown] = "unknown field; allowed: " + ", ".join(self.fields)
        cleaned = {}
        for name, field in self.fields.items():
            if name not in body:
                if field.required:
                    errors[name] = "is required"
                continue
            try:
                cleaned[name] = field.clean(body[name])
            except FieldError as exc:
                errors[name] = str(exc)
            except ValidationError as exc:  # an OBJECT field's cleaner: "check.url" …
                errors.update({key: " ".join(value) for key, value in exc.message_dict.items()})
        if errors:
            raise invalid(errors)
        if self.non_empty and not cleaned:
            raise invalid(
                {}, "Nothing to change: send at least one of " + ", ".join(self.fields) + "."
            )
        for rule in self.rules:
            rule(cleaned)
        return cleaned

    def schema(self):
        schema = {
            "type": "object",
            "additionalProperties": False,
            "properties": {name: field.schema() for name, field in self.fields.items()},
        }
        required = [name for name, field in self.fields.items() if field.required]
        if required:
            schema["required"] = required
        if self.non_empty:
            schema["minProperties"] = 1
        schema.update(self.schema_rules)
        if self.example is not None:
            schema["examples"] = [self.example]
        return schema


# --- The bodies of each endpoint ------------------------------------------------

MAX_MONITOR_IDS = 100


def _maintenance_has_a_schedule(cleaned):
    """``scheduledStart``/``scheduledEnd`` are given exactly for maintenance windows."""
    start, end = cleaned.get("scheduledStart"), cleaned.get("scheduledEnd")
    if cleaned.get("maintenance", False):
        missing = {
            name: "is required for a maintenance window"
            for name, value in (("scheduledStart", start), ("scheduledEnd", end))
            if value is None
        }
        if missing:
            raise invalid(missing)
    else:
        given = {
            name: 'only maintenance windows ("maintenance": true) have a schedule'
            for name, value in (("scheduledStart", start), ("scheduledEnd", end))
            if value is not None
        }
        if given:
            raise invalid(given)


def _incident_fields(*, creating):
    return {
        "title": Field(
            STRING,
            required=creating,
            not_blank=True,
            max_length=TITLE_MAX_LENGTH,
            description="1–200 characters; surrounding whitespace is trimmed.",
            example="API degraded performance",
        ),
        "status": Field(
            STRING,
            choices=Incident.STATUSES,
            description=(
                "Defaults to investigating."
                if creating
                else "With or without message, appends one update to the timeline."
            ),
        ),
        "message": Field(
            STRING,
            required=creating,
            not_blank=creating,
            description=(
                "The first update's message."
                if creating
                else "Appends one update (with the current status when status is absent)."
            ),
            example="We are investigating elevated error rates.",
        ),
        "monitorIds": Field(
            STRING_LIST,
            max_items=MAX_MONITOR_IDS,
            description="Ids of existing monitors, no duplicates; the order is kept.",
            example=["mon_abc123"],
        ),
        **(
            {
                "maintenance": Field(
                    BOOLEAN,
                    description="true makes a maintenance window; it then needs a schedule.",
                )
            }
            if creating
            else {}
        ),
        "scheduledStart": Field(
            TIMESTAMP,
            nullable=creating,
            description="RFC 3339 with a timezone; offsets are normalised to UTC.",
            example="2025-06-01T02:00:00Z",
        ),
        "scheduledEnd": Field(
            TIMESTAMP,
            nullable=creating,
            description="After scheduledStart.",
            example="2025-06-01T04:00:00Z",
        ),
        "notify": Field(
            BOOLEAN,
            description="false: the change is made and shown, but subscribers are not told "
            "(default true).",
        ),
    }


def _schedule_only_for_maintenance_schema():
    timestamp = {"type": "string", "format": "date-time"}
    return {
        "if": {"properties": {"maintenance": {"const": True}}, "required": ["maintenance"]},
        "then": {
            "required": ["scheduledStart", "scheduledEnd"],
            "properties": {"scheduledStart": timestamp, "scheduledEnd": timestamp},
        },
        "else": {
            "properties": {"scheduledStart": {"type": "null"}, "scheduledEnd": {"type": "null"}}
        },
    }


NEW_INCIDENT = Spec(
    _incident_fields(creating=True),
    read_only=("id", "startedAt", "resolvedAt", "updates"),
    rules=[_maintenance_has_a_schedule],
    schema_rules=_schedule_only_for_maintenance_schema(),
    example={
        "title": "Scheduled database migration",
        "status": "investigating",
        "message": "We are performing a planned database migration.",
        "monitorIds": ["mon_abc123"],
    },
)

INCIDENT_CHANGE = Spec(
    _incident_fields(creating=False),
    read_only=("id", "maintenance", "startedAt", "resolvedAt", "updates"),
    non_empty=True,
    example={
        "status": "resolved",
        "message": "The issue has been resolved. All services are operating normally.",
    },
)


def position_field(what):
    return Field(
        INTEGER,
        cleaner=clean_position,
        schema={"minimum": 0, "maximum": POSITION_MAX},
        description=f"Order on the page {what} (0 first; ties: oldest first). Defaults to 0.",
        example=1,
    )


def description_field():
    return Field(
        STRING,
        nullable=True,
        max_length=DESCRIPTION_MAX_LENGTH,
        description="Shown on the status page (as text); empty or null: none.",
        example="Our public REST API.",
    )


def placement_fields():
    """A monitor's description, group and position (issue 17)."""
    return {
        "description": description_field(),
        "groupId": Field(
            STRING,
            nullable=True,
            pattern=GROUP_ID_PATTERN,
            pattern_help=GROUP_ID_HELP,
            description="The group the monitor is shown in (an existing grp_… id), or null.",
            example="grp_core",
        ),
        "position": position_field("within its group"),
    }


def name_field(*, creating, example):
    return Field(
        STRING, required=creating, not_blank=True, max_length=NAME_MAX_LENGTH, example=example
    )


def chosen_id_field(pattern, pattern_help, example):
    return Field(
        STRING,
        pattern=pattern,
        pattern_help=pattern_help,
        description="Optional chosen id; one is made up when absent.",
        example=example,
    )


def _monitor_fields(*, creating):
    fields = {
        "name": name_field(creating=creating, example="API"),
        "url": Field(
            STRING,
            nullable=True,
            max_length=URL_MAX_LENGTH,
            description="An http or https URL, or null.",
            schema={"format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\u0000]*$"},
            example="https://api.example.com/health",
        ),
        "status": Field(
            STRING,
            choices=Monitor.STATUSES,
            description=(
                "Defaults to operational."
                if creating
                else "A change is recorded as a transition (degraded/down raise an alert)."
            ),
        ),
    }
    fields.update(placement_fields())
    fields["check"] = Field(
        OBJECT,
        nullable=True,
        cleaner=check_definition.clean_check,
        schema=check_definition.request_schema(),
    )
    if creating:
        fields = {
            "id": chosen_id_field(
                MONITOR_ID_PATTERN, "must match ^mon_[a-z0-9]{3,32}$", "mon_abc123"
            ),
            **fields,
        }
    return fields


MONITOR_READ_ONLY = ("inMaintenance", "lastCheckedAt", "responseTimeMs", "lastError")

NEW_MONITOR = Spec(
    _monitor_fields(creating=True),
    read_only=MONITOR_READ_ONLY,
    example={"id": "mon_abc123", "name": "API", "url": "https://api.example.com/health"},
)

MONITOR_CHANGE = Spec(
    _monitor_fields(creating=False),
    read_only=("id", *MONITOR_READ_ONLY),
    non_empty=True,
    example={"status": "down"},
)

UPDATE_CHANGE = Spec(
    {
        "message": Field(
            STRING,
            required=True,
            description="The entry's new text (a typo fix): no new entry, nobody is told.",
            example="We are investigating elevated error rates on the API.",
        )
    },
    read_only=("id", "status", "createdAt"),
    example={"message": "We are investigating elevated error rates on the API."},
)


# --- Groups ------------------------------------------------------------------


def _group_fields(*, creating):
    fields = {
        "name": name_field(creating=creating, example="Core services"),
        "position": position_field("among groups and ungrouped monitors"),
        "description": description_field(),
    }
    if creating:
        fields = {"id": chosen_id_field(GROUP_ID_PATTERN, GROUP_ID_HELP, "grp_core"), **fields}
    return fields


NEW_GROUP = Spec(
    _group_fields(creating=True),
    read_only=("monitorIds",),
    example={"id": "grp_core", "name": "Core services", "position": 1},
)

GROUP_CHANGE = Spec(
    _group_fields(creating=False),
    read_only=("id", "monitorIds"),
    non_empty=True,
    example={"position": 2},
)
