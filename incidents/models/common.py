"""What every model of the domain shares: prefixed ids, times in whole
seconds, the limits of names and URLs, who made a change (``Actor``) and the
refusal of a write the state forbids (``Conflict``)."""

import secrets
import string
from dataclasses import dataclass
from datetime import UTC

from django.core.validators import URLValidator
from django.utils import timezone

ID_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 16
MONITOR_ID_PATTERN = r"^mon_[a-z0-9]{3,32}$"
GROUP_ID_PATTERN = r"^grp_[a-z0-9]{3,32}$"
TITLE_MAX_LENGTH = 200
NAME_MAX_LENGTH = 200
URL_MAX_LENGTH = 2000
DESCRIPTION_MAX_LENGTH = 500
POSITION_MAX = 1_000_000
HTTP_URL = URLValidator(schemes=["http", "https"])


def make_id(prefix):
    """A prefixed, opaque, lowercase alphanumeric id such as ``inc_k3v9…``."""
    return prefix + "_" + "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def now_seconds():
    """Now, in UTC, truncated to whole seconds: what the API shows is what is stored."""
    return timezone.now().astimezone(UTC).replace(microsecond=0)


def isostring(value):
    """RFC 3339 in UTC with a ``Z`` suffix and whole seconds, or None."""
    if value is None:
        return None
    # isoformat, not strftime("%Y"): the year keeps four digits before 1000.
    return value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


class Conflict(Exception):
    """A write that the current state of things forbids (HTTP 409 in the API)."""


@dataclass(frozen=True)
class Actor:
    """Who made a change, for the audit trail."""

    label: str
    api_key: "ApiKey | None" = None  # noqa: F821 (keys.py builds on this module)
    user: object = None

    @classmethod
    def for_api_key(cls, api_key):
        return cls(label=f"API key {api_key.name} ({api_key.prefix}…)", api_key=api_key)

    @classmethod
    def for_user(cls, user):
        return cls(label=f"admin {user.get_username()}", user=user)

    @classmethod
    def system(cls, what):
        return cls(label=what)


UNSET = object()


def clean_description(value):
    """A monitor's or group's description as stored: trimmed, None for an
    empty one (its field, ``description_field``, checked it first)."""
    if value is None:
        return None
    return value.strip() or None
