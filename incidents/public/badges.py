"""Status badges: small SVG images in the look of shields.io's "flat" style.

A badge is a grey label (the page or monitor name) beside a coloured message
(the state, in words, so that it reads without colour too). Monitor names are
user text: they are XML-escaped and stripped of characters XML cannot hold.
The SVG uses presentation attributes only (no <style>, no script, nothing
fetched), so it renders under any Content-Security-Policy.
"""

import re
import unicodedata
from xml.sax.saxutils import escape

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext, pgettext_lazy

from incidents import overview
from incidents.models import Monitor
from incidents.uptime.history import percent

# shields.io's hues, darkened so that white 11px text keeps a contrast of at
# least 4.5:1 (WCAG AA) on every one of them.
GREEN = "#2e7d32"
YELLOW = "#a35f00"
ORANGE = "#c2410c"
RED = "#b71c1c"
BLUE = "#1565c0"
GREY = "#767676"
LABEL_GREY = "#555"

# Our overall state -> (message, colour).
OVERALL = {
    overview.OPERATIONAL: (pgettext_lazy("badge", "operational"), GREEN),
    overview.MAINTENANCE: (pgettext_lazy("badge", "maintenance"), BLUE),
    overview.DEGRADED: (pgettext_lazy("badge", "degraded"), YELLOW),
    overview.PARTIAL_OUTAGE: (pgettext_lazy("badge", "partial outage"), ORANGE),
    overview.MAJOR_OUTAGE: (pgettext_lazy("badge", "major outage"), RED),
}

# A monitor's state as visitors see it -> (message, colour).
MONITOR = {
    Monitor.OPERATIONAL: (pgettext_lazy("badge", "operational"), GREEN),
    overview.MONITOR_UNDER_MAINTENANCE: (pgettext_lazy("badge", "maintenance"), BLUE),
    Monitor.DEGRADED: (pgettext_lazy("badge", "degraded"), YELLOW),
    Monitor.DOWN: (pgettext_lazy("badge", "outage"), RED),
}

NOT_FOUND = (pgettext_lazy("badge", "not found"), GREY)

LABEL_MAX_CHARACTERS = 40
HEIGHT = 20
PADDING = 6  # either side of each text

# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Approximate advance widths of Verdana at 11px, the font shields.io measures.
_NARROW = set("iljI.,:;'|!")
_SLIM = set('frt()[]{} -/\\"')
_WIDE = set("mwMW%@")


def _character_width(character):
    if character in _NARROW:
        return 3.5
    if character in _SLIM:
        return 4.6
    if character in _WIDE:
        return 10.5
    if unicodedata.east_asian_width(character) in ("W", "F"):
        return 11.0
    if character.isupper():
        return 7.6
    return 6.9


def text_width(text):
    return round(sum(_character_width(c) for c in text))


def clean(text, limit=LABEL_MAX_CHARACTERS):
    """Text fit for the badge: printable, one line, not too long."""
    text = " ".join(_NOT_XML.sub("", text).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or str(_("status"))


def _escape(text):
    return escape(text, {'"': "&quot;", "'": "&apos;"})


def render(label, message, colour):
    """The badge as SVG text."""
    label, message = clean(str(label)), clean(str(message))
    label_width = text_width(label) + 2 * PADDING
    message_width = text_width(message) + 2 * PADDING
    width = label_width + message_width
    label_x = label_width / 2
    message_x = label_width + message_width / 2
    title = _escape(f"{label}: {message}")
    label, message = _escape(label), _escape(message)
    label_length = label_width - 2 * PADDING
    message_length = message_width - 2 * PADDING
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" '
        f'role="img" aria-label="{title}">'
        f"<title>{title}</title>"
        '<linearGradient id="s" x2="0" y2="100%">'
        '<stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{width}" height="{HEIGHT}" rx="3" fill="#fff"/>'
        "</clipPath>"
        '<g clip-path="url(#r)">'
        f'<rect width="{label_width}" height="{HEIGHT}" fill="{LABEL_GREY}"/>'
        f'<rect x="{label_width}" width="{message_width}" height="{HEIGHT}" fill="{colour}"/>'
        f'<rect width="{width}" height="{HEIGHT}" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" '
        'font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{label_x}" y="15" fill="#010101" fill-opacity=".3" '
        f'textLength="{label_length}" lengthAdjust="spacingAndGlyphs">{label}</text>'
        f'<text x="{label_x}" y="14" textLength="{label_length}" '
        f'lengthAdjust="spacingAndGlyphs">{label}</text>'
        f'<text x="{message_x}" y="15" fill="#010101" fill-opacity=".3" '
        f'textLength="{message_length}" lengthAdjust="spacingAndGlyphs">{message}</text>'
        f'<text x="{message_x}" y="14" textLength="{message_length}" '
        f'lengthAdjust="spacingAndGlyphs">{message}</text>'
        "</g></svg>"
    )


def overall_badge(page_name, state):
    message, colour = OVERALL[state]
    return render(page_name, message, colour)


def monitor_badge(monitor):
    message, colour = MONITOR[overview.monitor_state(monitor)]
    return render(monitor.name, message, colour)


def not_found_badge(label=None):
    message, colour = NOT_FOUND
    return render(label or pgettext("badge", "monitor"), message, colour)


# An uptime ratio -> colour: green from 99.9 %, then yellow, orange, red.
UPTIME_COLOURS = [(0.999, GREEN), (0.99, YELLOW), (0.95, ORANGE), (0.0, RED)]


def uptime_badge(ratio):
    """``uptime | 99.95 %``: the message says it, the colour only echoes it."""
    if ratio is None:
        return render("uptime", "no data", GREY)
    colour = next(colour for floor, colour in UPTIME_COLOURS if ratio >= floor)
    return render("uptime", percent(ratio), colour)
