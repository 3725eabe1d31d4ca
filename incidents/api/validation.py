"""Validation without a framework, derived from the domain's declarations.

Each resource's fields are declared once, in the domain
(incidents/models/fields.py: name, type, limits, required-when, messages).
An endpoint's body is a ``Spec`` of the fields of one resource for creating or
changing it; one function checks a body against it, refusing unknown keys,
and the same declaration writes the OpenAPI request schema, so the document
cannot drift from what is enforced. Query strings go through Django forms.
"""

from django.core.exceptions import ValidationError

from incidents.api.decorators import invalid
from incidents.groups.models import GROUP
from incidents.models.fields import (  # noqa: F401 (re-exported for the API's callers)
    BOOLEAN,
    INTEGER,
    OBJECT,
    STRING,
    STRING_LIST,
    TIMESTAMP,
    Field,
    FieldError,
    Resource,
    parse_timestamp,
)
from incidents.models.incidents import INCIDENT, TIMELINE_ENTRY
from incidents.models.monitors import MONITOR

NO_NUL_PATTERN = "^[^\\u0000]*$"
NOT_BLANK_PATTERN = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"


def field_schema(field):
    """A field as JSON Schema (2020-12, as OpenAPI 3.1 uses)."""
    if field.kind == OBJECT:
        schema = dict(field.schema)
        if field.nullable:
            schema = {"oneOf": [*schema.pop("oneOf"), {"type": "null"}], **schema}
        return schema
    if field.kind == BOOLEAN:
        schema = {"type": "boolean"}
    elif field.kind == INTEGER:
        schema = {"type": "integer", "minimum": field.minimum, "maximum": field.maximum}
    elif field.kind == TIMESTAMP:
        schema = {"type": "string", "format": "date-time"}
    elif field.kind == STRING_LIST:
        schema = {
            "type": "array",
            "items": {"type": "string", "pattern": NO_NUL_PATTERN},
            "uniqueItems": True,
        }
        if field.max_items is not None:
            schema["maxItems"] = field.max_items
    elif field.choices:
        schema = {"type": "string", "enum": list(field.choices)}
    else:
        schema = {"type": "string"}
        if field.pattern:
            schema["pattern"] = field.pattern
        else:
            schema["pattern"] = NOT_BLANK_PATTERN if field.not_blank else NO_NUL_PATTERN
        if field.not_blank:
            schema["minLength"] = 1
        if field.max_length is not None:
            schema["maxLength"] = field.max_length
    schema.update(field.schema)
    if field.nullable:
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        schema["type"] = [schema["type"], "null"]
    if field.description:
        schema["description"] = field.description
    if field.example is not None:
        schema["examples"] = [field.example]
    return schema


class Spec:
    """The body of one endpoint: the fields of a resource for creating or
    changing it, and the rules that tie them (``rules``: functions of the
    cleaned body; ``required_with``: declared on the fields)."""

    def __init__(
        self, resource, *, creating, non_empty=False, rules=(), schema_rules=None, example=None
    ):
        self.resource = resource
        self.fields = resource.body(creating=creating)
        self.read_only = resource.read_only_in(creating=creating)
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
                    errors[name] = field.required_message
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
        self._required_with(cleaned)
        for rule in self.rules:
            rule(cleaned)
        return cleaned

    def arguments(self, body):
        """The body cleaned, as the domain's keyword arguments."""
        return self.resource.arguments(self.clean(body))

    def _conditional(self):
        """``{flag: [fields required when it is true, forbidden otherwise]}``."""
        conditional = {}
        for name, field in self.fields.items():
            if field.required_with in self.fields:
                conditional.setdefault(field.required_with, []).append(name)
        return conditional

    def _required_with(self, cleaned):
        for flag, names in self._conditional().items():
            if cleaned.get(flag, False):
                errors = {
                    name: self.fields[name].required_message
                    for name in names
                    if cleaned.get(name) is None
                }
            else:
                errors = {
                    name: self.fields[name].forbidden_message
                    for name in names
                    if cleaned.get(name) is not None
                }
            if errors:
                raise invalid(errors)

    def _conditional_schema(self):
        for flag, names in self._conditional().items():
            given = {name: field_schema(Field(name, kind=self.fields[name].kind)) for name in names}
            yield {
                "if": {"properties": {flag: {"const": True}}, "required": [flag]},
                "then": {"required": names, "properties": given},
                "else": {"properties": {name: {"type": "null"} for name in names}},
            }

    def schema(self):
        schema = {
            "type": "object",
            "additionalProperties": False,
            "properties": {name: field_schema(field) for name, field in self.fields.items()},
        }
        required = [name for name, field in self.fields.items() if field.required]
        if required:
            schema["required"] = required
        if self.non_empty:
            schema["minProperties"] = 1
        for conditional in self._conditional_schema():
            schema.update(conditional)
        schema.update(self.schema_rules)
        if self.example is not None:
            schema["examples"] = [self.example]
        return schema


# --- The bodies of each endpoint ------------------------------------------------

NEW_INCIDENT = Spec(
    INCIDENT,
    creating=True,
    example={
        "title": "Scheduled database migration",
        "status": "investigating",
        "message": "We are performing a planned database migration.",
        "monitorIds": ["mon_abc123"],
    },
)

INCIDENT_CHANGE = Spec(
    INCIDENT,
    creating=False,
    non_empty=True,
    example={
        "status": "resolved",
        "message": "The issue has been resolved. All services are operating normally.",
    },
)

NEW_MONITOR = Spec(
    MONITOR,
    creating=True,
    example={"id": "mon_abc123", "name": "API", "url": "https://api.example.com/health"},
)

MONITOR_CHANGE = Spec(MONITOR, creating=False, non_empty=True, example={"status": "down"})

UPDATE_CHANGE = Spec(
    TIMELINE_ENTRY,
    creating=False,
    example={"message": "We are investigating elevated error rates on the API."},
)

NEW_GROUP = Spec(
    GROUP,
    creating=True,
    example={"id": "grp_core", "name": "Core services", "position": 1},
)

GROUP_CHANGE = Spec(GROUP, creating=False, non_empty=True, example={"position": 2})
