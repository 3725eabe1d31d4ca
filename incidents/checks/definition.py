"""What a monitor's ``check`` may say: every setting, its bounds, its default
and its message, declared once in ``SETTINGS``.

``clean_check`` turns a JSON value into a ``CheckDefinition`` (or None for
``"check": null``), reporting every bad setting at once as
``{"check.<name>": "what is wrong"}``; ``request_schema``/``response_schema``
write the same declarations as JSON Schema for the OpenAPI document. The API,
the admin and the domain all go through ``clean_check``.
"""

import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from incidents.checks import addresses

HTTP, TCP, HEARTBEAT = "http", "tcp", "heartbeat"
TYPES = (HTTP, TCP, HEARTBEAT)
METHODS = ("GET", "HEAD")
URL_MAX_LENGTH = 2000
KEYWORD_MAX_LENGTH = 1000
HOST_MAX_LENGTH = 253
HOST_PATTERN = (
    r"^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+"
    r"|[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?)$"
)
URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s\u0000]+$"
HOST_RE = re.compile(HOST_PATTERN, re.ASCII)
URL_RE = re.compile(URL_PATTERN)
ANY_STATUS_NOTE = "null: any status from 200 to 399"

INT, STRING, BOOLEAN, CHOICE, STATUS_LIST, URL, HOST = (
    "int", "string", "boolean", "choice", "status list", "url", "host"
)  # fmt: skip

COMMON = (HTTP, TCP)


@dataclass(frozen=True)
class Setting:
    name: str  # the contract's name
    attribute: str  # the Check model's field
    kind: str
    types: tuple
    default: object = None
    required: bool = False
    nullable: bool = False
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple = ()
    max_length: int | None = None
    description: str = ""

    def message(self):
        """What the setting must be, in one sentence: the error for any bad value."""
        if self.kind == INT:
            text = f"must be a whole number from {self.minimum} to {self.maximum}"
        elif self.kind == BOOLEAN:
            text = "must be true or false"
        elif self.kind == CHOICE:
            text = "must be one of: " + ", ".join(self.choices)
        elif self.kind == STATUS_LIST:
            text = "must be an array of distinct HTTP status codes from 100 to 599"
        elif self.kind == URL:
            text = f"must be an http or https URL of at most {self.max_length} characters"
        elif self.kind == HOST:
            text = f"must be a host name or an IP address of at most {self.max_length} characters"
        else:
            text = f"must be a string of 1 to {self.max_length} characters"
        return text + (", or null" if self.nullable else "")

    def clean(self, value):
        """The value converted, or raise ValueError(message)."""
        if value is None:
            if self.nullable:
                return None
            raise ValueError(self.message())
        if self.kind == INT:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(self.message())
            if not self.minimum <= value <= self.maximum:
                raise ValueError(self.message())
            return value
        if self.kind == BOOLEAN:
            if not isinstance(value, bool):
                raise ValueError(self.message())
            return value
        if self.kind == STATUS_LIST:
            if (
                not isinstance(value, list)
                or not value
                or len(value) > 100
                or any(isinstance(v, bool) or not isinstance(v, int) for v in value)
                or any(not 100 <= v <= 599 for v in value)
                or len(set(value)) != len(value)
            ):
                raise ValueError(self.message())
            return value
        if not isinstance(value, str) or not value or "\x00" in value:
            raise ValueError(self.message())
        too_long = self.max_length is not None and len(value) > self.max_length
        if re.search("[\ud800-\udfff]", value) or too_long:
            raise ValueError(self.message())
        if self.kind == CHOICE and value not in self.choices:
            raise ValueError(self.message())
        if self.kind == URL:
            return clean_url(value, self)
        if self.kind == HOST:
            if not HOST_RE.fullmatch(value):
                raise ValueError(self.message())
            refusal = addresses.refusal_for_host(value)
            if refusal:
                raise ValueError(refusal)
        return value

    def schema(self):
        if self.kind == INT:
            schema = {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}
        elif self.kind == BOOLEAN:
            schema = {"type": "boolean"}
        elif self.kind == CHOICE:
            schema = {"type": "string", "enum": list(self.choices)}
        elif self.kind == STATUS_LIST:
            schema = {
                "type": "array",
                "items": {"type": "integer", "minimum": 100, "maximum": 599},
                "minItems": 1,
                "maxItems": 100,
                "uniqueItems": True,
            }
        else:
            pattern = {URL: URL_PATTERN, HOST: HOST_PATTERN}.get(self.kind, "^[^\\u0000]+$")
            schema = {"type": "string", "minLength": 1, "maxLength": self.max_length}
            schema["pattern"] = pattern
        if self.nullable:
            schema["type"] = [schema["type"], "null"]
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]
        if self.default is not None:
            schema["default"] = self.default
        if self.description:
            schema["description"] = self.description
        return schema


def clean_url(value, setting):
    from urllib.parse import urlsplit

    if not URL_RE.fullmatch(value):
        raise ValueError(setting.message())
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(setting.message()) from None
    host = parts.hostname
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise ValueError(setting.message())
    if port == 0:
        raise ValueError(setting.message())
    refusal = addresses.refusal_for_host(host)
    if refusal:
        raise ValueError(refusal)
    return value


SETTINGS = (
    Setting("type", "type", CHOICE, TYPES, required=True, choices=TYPES),
    Setting(
        "url", "url", URL, (HTTP,), required=True, max_length=URL_MAX_LENGTH,
        description="The URL to request (http or https); redirects are followed, at most 5.",
    ),
    Setting("method", "method", CHOICE, (HTTP,), default="GET", choices=METHODS),
    Setting(
        "expectedStatus", "expected_status", STATUS_LIST, (HTTP,), nullable=True,
        description="The status codes that count as up; " + ANY_STATUS_NOTE + ".",
    ),
    Setting(
        "keyword", "keyword", STRING, (HTTP,), nullable=True, max_length=KEYWORD_MAX_LENGTH,
        description="Text that must appear in the first MiB of the body.",
    ),
    Setting(
        "keywordAbsent", "keyword_absent", BOOLEAN, (HTTP,), default=False,
        description="true: the keyword must not appear.",
    ),
    Setting(
        "degradedAboveMs", "degraded_above_ms", INT, (HTTP,), nullable=True,
        minimum=1, maximum=60_000,
        description="An answer slower than this (milliseconds) is degraded.",
    ),
    Setting(
        "certificateExpiryDays", "certificate_expiry_days", INT, (HTTP,), default=14,
        nullable=True, minimum=1, maximum=365,
        description="Degraded when the TLS certificate expires within this many days; "
        "null: never.",
    ),
    Setting("host", "host", HOST, (TCP,), required=True, max_length=HOST_MAX_LENGTH),
    Setting("port", "port", INT, (TCP,), required=True, minimum=1, maximum=65535),
    Setting(
        "interval", "interval", INT, COMMON, default=60, minimum=10, maximum=86_400,
        description="Seconds between checks.",
    ),
    Setting(
        "timeout", "timeout", INT, COMMON, default=10, minimum=1, maximum=60,
        description="Seconds a check may take in all (connect, redirects, body).",
    ),
    Setting(
        "failuresBeforeDown", "failures_before_down", INT, COMMON, default=2,
        minimum=1, maximum=10, description="Consecutive failures before the monitor is down.",
    ),
    Setting(
        "successesBeforeUp", "successes_before_up", INT, COMMON, default=1,
        minimum=1, maximum=10, description="Consecutive successes before it is back.",
    ),
    Setting(
        "period", "period", INT, (HEARTBEAT,), default=86_400, minimum=10, maximum=2_592_000,
        description="Seconds expected between pings.",
    ),
    Setting(
        "grace", "grace", INT, (HEARTBEAT,), default=3_600, minimum=5, maximum=2_592_000,
        description="Seconds a ping may be late before the monitor is down.",
    ),
)  # fmt: skip
BY_NAME = {setting.name: setting for setting in SETTINGS}
READ_ONLY = {HEARTBEAT: ("pingUrl",)}


def settings_for(check_type):
    return [
        setting for setting in SETTINGS if check_type in setting.types or setting.name == "type"
    ]


@dataclass(frozen=True)
class CheckDefinition:
    """A valid check, as the Check model's attributes (every setting of its type)."""

    type: str
    values: dict = field(default_factory=dict)


def _cross_rules(check_type, values, errors):
    """Rules between settings (after each is valid on its own)."""
    if check_type != HTTP:
        return
    if values.get("keyword_absent") and values.get("keyword") is None:
        errors.setdefault("keywordAbsent", "needs a keyword")
    if values.get("keyword") is not None and values.get("method") == "HEAD":
        errors.setdefault("keyword", "needs method GET: an answer to HEAD has no body")
    slow = values.get("degraded_above_ms")
    timeout = values.get("timeout")
    if slow is not None and timeout is not None and slow >= timeout * 1000:
        errors.setdefault("degradedAboveMs", f"must be less than the timeout ({timeout * 1000} ms)")


def clean_check(value, prefix="check."):
    """A ``CheckDefinition`` from a JSON value, None for null; raises
    ValidationError naming each bad setting (``check.url``, …)."""
    if value is None or isinstance(value, CheckDefinition):
        return value
    if not isinstance(value, dict):
        raise ValidationError(
            {prefix.rstrip("."): "must be an object with a type (http, tcp, heartbeat), or null"}
        )
    errors = {}
    check_type = value.get("type")
    if "type" not in value:
        errors["type"] = "is required"
    elif check_type not in TYPES:
        errors["type"] = BY_NAME["type"].message()
    if errors:
        raise ValidationError({prefix + name: message for name, message in errors.items()})
    allowed = settings_for(check_type)
    allowed_names = [setting.name for setting in allowed]
    for name in value:
        if name in allowed_names:
            continue
        shown = name if len(name) <= 100 else name[:100] + "…"
        if name in READ_ONLY.get(check_type, ()):
            errors[shown] = "is read-only and cannot be set here"
        else:
            errors[shown] = f"unknown field for a {check_type} check; allowed: " + ", ".join(
                allowed_names
            )
    values = {}
    for setting in allowed:
        if setting.name == "type":
            continue
        if setting.name not in value:
            if setting.required:
                errors[setting.name] = "is required"
            else:
                values[setting.attribute] = setting.default
            continue
        try:
            values[setting.attribute] = setting.clean(value[setting.name])
        except ValueError as error:
            errors[setting.name] = str(error)
    if not errors:
        _cross_rules(check_type, values, errors)
    if errors:
        raise ValidationError({prefix + name: message for name, message in errors.items()})
    return CheckDefinition(type=check_type, values=values)


def _object_schema(check_type, *, response):
    properties = {}
    for setting in settings_for(check_type):
        if setting.name == "type":
            properties["type"] = {"const": check_type}
        else:
            properties[setting.name] = setting.schema()
    required = [s.name for s in settings_for(check_type) if s.required]
    if response:
        if check_type == HEARTBEAT:
            properties["pingUrl"] = {
                "type": "string",
                "format": "uri",
                "description": "GET, POST or HEAD it (no key); append /fail to report down.",
            }
        required = list(properties)
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


def request_schema():
    return {
        "oneOf": [_object_schema(check_type, response=False) for check_type in TYPES],
        "description": "null removes the check; an object replaces it (a heartbeat keeps "
        "its pingUrl).",
    }


def response_schema():
    return {"oneOf": [_object_schema(check_type, response=True) for check_type in TYPES]}
