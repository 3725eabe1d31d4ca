"""Rules for hostile and odd input, each declared once with its message.

The domain's field tables name them as their fields' validators
(``refusing(...)`` in incidents/models/incidents.py and monitors.py; the
window's length in ``schedule_errors``), and ``validate_fields`` applies them,
so the API (``validation_error``) and the admin (form errors) refuse the same
things with the same words:

- control characters (C0 and C1; in messages tab, newline and carriage return
  are text) — pasted from office documents, they break every XML feed;
- bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069), which
  make text read differently from what it says;
- titles and names made only of invisible characters (spaces, format
  characters, fillers), which look empty;
- timestamps outside 2000–2100, and maintenance windows longer than 366 days.

``xml_safe`` strips what XML 1.0 cannot carry from text already stored.
"""

import re
import unicodedata
from datetime import UTC, datetime, timedelta

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
MESSAGE_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
BIDI_OVERRIDE = re.compile("[\u202a-\u202e\u2066-\u2069]")
# Shown as nothing though not whitespace to Python: fillers and a blank.
INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e")

CONTROL_REFUSAL = "must not contain control characters"
MESSAGE_CONTROL_REFUSAL = "must not contain control characters (other than tab and newline)"
BIDI_REFUSAL = "must not contain bidirectional override characters (U+202A–U+202E, U+2066–U+2069)"
INVISIBLE_REFUSAL = "must contain visible characters"

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2101, 1, 1, tzinfo=UTC)  # exclusive: the last moment of 2100 is allowed
TIMESTAMP_REFUSAL = "must be between 2000-01-01T00:00:00Z and 2100-12-31T23:59:59Z"
LONGEST_WINDOW = timedelta(days=366)
WINDOW_REFUSAL = "a maintenance window may last at most 366 days"

# What XML 1.0 cannot carry (and C1, which feeds readers show as garbage).
NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _is_invisible(character):
    return (
        character.isspace()
        or character in INVISIBLE
        or unicodedata.category(character) in ("Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me")
    )


def line_refusal(text):
    """Why a one-line text (a title, a name) is refused, or None."""
    if CONTROL.search(text):
        return CONTROL_REFUSAL
    if BIDI_OVERRIDE.search(text):
        return BIDI_REFUSAL
    if text and all(_is_invisible(character) for character in text):
        return INVISIBLE_REFUSAL
    return None


def message_refusal(text):
    """Why a message (Markdown, several lines) is refused, or None."""
    if MESSAGE_CONTROL.search(text):
        return MESSAGE_CONTROL_REFUSAL
    if BIDI_OVERRIDE.search(text):
        return BIDI_REFUSAL
    return None


def timestamp_refusal(moment):
    """Why a timestamp given as input is refused, or None."""
    if not EARLIEST <= moment < LATEST:
        return TIMESTAMP_REFUSAL
    return None


def window_refusal(start, end):
    if end - start > LONGEST_WINDOW:
        return WINDOW_REFUSAL
    return None


def xml_safe(value):
    """Text (or a list of texts) without what XML 1.0 cannot carry."""
    if isinstance(value, str):
        return NOT_IN_XML.sub("", value)
    if isinstance(value, list | tuple):
        return type(value)(xml_safe(item) for item in value)
    return value
