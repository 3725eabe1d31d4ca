"""The contract's fields, each declared once, with its rules and their messages.

A resource (an incident, a monitor, a timeline entry, a subscriber) lists its
fields in a ``Resource``: the contract's (API) name, the domain's keyword (the
model field), the type, the limits, when it is required, and the sentence
that refuses a value. Every face derives from it:

- the domain's ``validate_fields`` checks the values it is given with
  ``Field.check`` (so the admin, which calls the domain, says what the API says);
- the API's body specs (incidents/api/validation.py) clean JSON with
  ``Field.clean`` and write the OpenAPI request schemas (``required``,
  ``maxLength``, ``enum`` …) from the same declaration;
- ``api_name`` is the one map from the domain's names to the contract's
  (``monitor_ids`` ↔ ``monitorIds``), for errors the domain raises.

Rules that tie fields together (a window's start and end) are functions here
or on the model, each with its message in this module.
"""

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from django.core.exceptions import ValidationError

from incidents.models.common import UNSET

STRING, BOOLEAN, TIMESTAMP, STRING_LIST = "string", "boolean", "timestamp", "string list"
INTEGER = "integer"  # a whole number from ``minimum`` to ``maximum``
OBJECT = "object"  # cleaned by the domain's own function (``cleaner``)

# PostgreSQL refuses NUL in text, and no database stores a lone surrogate.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

TIMESTAMP_RE = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]"
    r"(?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.[0-9]+)?"
    r"(?:(?P<utc>[Zz])|(?P<sign>[+-])(?P<hours>[0-9]{2}):(?P<minutes>[0-9]{2}))?",
    re.ASCII,
)
TIMESTAMP_EXAMPLE = "2025-06-01T02:00:00Z"
# What the API's schema says of an http(s) URL field (the domain checks more).
HTTP_URL_SCHEMA = {"format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\u0000]*$"}

# --- The messages of the rules that tie fields together ----------------------

WINDOW_NEEDS_SCHEDULE = "is required for a maintenance window"
END_AFTER_START = "must be after scheduledStart"
DUPLICATE_MONITORS = "duplicate monitor ids: "
UNKNOWN_MONITORS = "unknown monitor ids: "


def only_windows_have_a_schedule(flag=None):
    """Refuses a schedule on an ordinary incident; ``flag`` names the body
    field that makes a window, where there is one (a POST)."""
    which = f" ({flag})" if flag else ""
    return f"only maintenance windows{which} have a schedule"


NOT_HTTP_URL = "must be an http or https URL"


def at_most(length):
    return f"must be at most {length} characters"


def refusing(rule):
    """A ``validator`` from a rule that returns why a value is refused, or
    None (incidents/input_rules.py)."""

    def validate(value):
        refusal = rule(value)
        if refusal:
            raise FieldError(refusal)

    return validate


def unknown_monitors(ids):
    return UNKNOWN_MONITORS + ", ".join(ids)


class FieldError(ValueError):
    """One value breaks its field's rules; the message says how."""


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


def choices_message(choices):
    return "must be one of: " + ", ".join(choices)


@dataclass(frozen=True)
class Field:
    """One field of a resource, as the contract has it.

    ``creating``/``changing`` override any setting for the body that creates
    or changes the resource (``{"required": True}``); ``only`` limits the
    field to one of them. ``required_with`` names a boolean field that makes
    this one required when true and forbidden otherwise, with the messages
    ``required_message`` and ``forbidden_message``. ``validator`` is a rule
    of the domain, run by ``check`` (the domain's checks) after the shape.
    """

    name: str
    attribute: str = ""
    kind: str = STRING
    required: bool = False
    nullable: bool = False
    choices: tuple | None = None
    max_length: int | None = None
    not_blank: bool = False
    trimmed: bool = False
    pattern: str | None = None
    pattern_help: str | None = None
    max_items: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    required_with: str | None = None
    required_message: str = "is required"
    forbidden_message: str | None = None
    cleaner: Any = None
    validator: Any = None
    schema: dict = field(default_factory=dict)
    description: str = ""
    example: Any = None
    only: str | None = None
    creating: dict = field(default_factory=dict)
    changing: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.attribute:
            object.__setattr__(self, "attribute", self.name)
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))

    def for_body(self, creating):
        return replace(self, **(self.creating if creating else self.changing))

    @property
    def help(self):
        """What a value not matching ``pattern`` is told."""
        return self.pattern_help or f"must match {self.pattern}"

    @property
    def range_message(self):
        return f"must be a whole number from {self.minimum} to {self.maximum}"

    def clean(self, value):
        """The value, checked for its shape (type, enum, length, pattern) and
        converted (timestamps); raises FieldError, or ValidationError for an
        ``OBJECT`` (naming its sub-fields)."""
        if value is None:
            if self.nullable:
                return None
            raise FieldError("must not be null")
        if self.kind == BOOLEAN:
            if not isinstance(value, bool):
                raise FieldError("must be true or false")
            return value
        if self.kind == TIMESTAMP:
            if isinstance(value, datetime):  # from the domain's callers, not JSON
                return value
            return parse_timestamp(value)
        if self.kind == OBJECT:
            return self.cleaner(value)
        if self.kind == INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                raise FieldError(self.range_message)
            if not self.minimum <= value <= self.maximum:
                raise FieldError(self.range_message)
            return value
        if self.kind == STRING_LIST:
            return self._clean_list(value)
        return self._clean_string(value)

    def check(self, value):
        """The domain's check of a value: its shape (trimmed, where the
        domain trims it), then the domain's own rule (of the value as
        given); raises FieldError."""
        given = value
        if self.trimmed and isinstance(value, str):
            value = value.strip()
        cleaned = self.clean(value)
        if self.validator is not None and cleaned is not None:
            self.validator(given)
        return cleaned

    def _clean_list(self, value):
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

    def _clean_string(self, value):
        if not isinstance(value, str):
            if self.choices:
                raise FieldError(choices_message(self.choices))
            raise FieldError("must be a string")
        if self.choices and value not in self.choices:
            raise FieldError(choices_message(self.choices))
        if UNSTORABLE.search(value):
            raise FieldError("must not contain NUL characters or unpaired surrogates")
        if self.not_blank and not value.strip():
            raise FieldError("must not be empty")
        if self.max_length is not None and len(value) > self.max_length:
            raise FieldError(at_most(self.max_length))
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise FieldError(self.help)
        return value


# The domain's names → the contract's, for every resource declared.
_API_NAMES = {}


def api_name(attribute):
    """The contract's name of a domain field (``monitor_ids`` → ``monitorIds``)."""
    return _API_NAMES.get(attribute, attribute)


class Resource:
    """The fields of one resource, in the contract's order, and those it
    shows but never takes (``read_only``; ``read_only_on_change`` besides
    when changing it)."""

    def __init__(self, fields, *, read_only=(), read_only_on_change=()):
        self.fields = {item.name: item for item in fields}
        self.by_attribute = {item.attribute: item for item in fields}
        self.read_only = tuple(read_only)
        self.read_only_on_change = tuple(read_only_on_change)
        for item in fields:
            if _API_NAMES.setdefault(item.attribute, item.name) != item.name:
                raise ValueError(f"{item.attribute} has two contract names")

    def __getitem__(self, name):
        return self.fields[name]

    def body(self, *, creating):
        """The fields a body that creates (or changes) the resource may hold."""
        wanted = "create" if creating else "change"
        return {
            name: item.for_body(creating)
            for name, item in self.fields.items()
            if item.only in (None, wanted)
        }

    def read_only_in(self, *, creating):
        return self.read_only if creating else (*self.read_only_on_change, *self.read_only)

    def arguments(self, cleaned):
        """A cleaned body as the domain's keyword arguments."""
        return {self.fields[name].attribute: value for name, value in cleaned.items()}

    def errors(self, values):
        """``{attribute: message}`` for each given value (``UNSET``: not
        given) that breaks its field's rules."""
        errors = {}
        for attribute, value in values.items():
            if value is UNSET:
                continue
            try:
                self.by_attribute[attribute].check(value)
            except FieldError as exc:
                errors[attribute] = str(exc)
            except ValidationError as exc:  # an OBJECT's cleaner names its sub-fields
                errors.update(exc.message_dict)
        return errors
