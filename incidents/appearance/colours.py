"""The accent colour and the contrast it must keep with the page's
backgrounds (WCAG 2.x relative luminance and contrast ratio)."""

import re

from django.core.exceptions import ValidationError

HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")

# The backgrounds links and the accent sit on, per colour scheme: the page
# and its cards (static/incidents/status.css, --bg and --surface).
BACKGROUNDS = {
    "light": ("#f6f7f9", "#ffffff"),
    "dark": ("#121417", "#1b1f24"),
}
# The built-in link colours of status.css, used when no accent is set.
DEFAULT_ACCENTS = {"light": "#0b57b8", "dark": "#8ab8ff"}
# WCAG AA for normal text.
MINIMUM_CONTRAST = 4.5


def normalise(value):
    """``#abc`` → ``#aabbcc``, lower case; ValidationError if not a hex colour."""
    value = (value or "").strip()
    if not HEX.match(value):
        raise ValidationError(
            "Enter a colour as #rrggbb (or #rgb), e.g. #0b57b8.", code="invalid_colour"
        )
    digits = value[1:].lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return f"#{digits}"


def luminance(colour):
    def channel(part):
        c = int(part, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(one, other):
    a, b = sorted((luminance(one), luminance(other)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def lowest_contrast(colour, scheme):
    return min(contrast(colour, background) for background in BACKGROUNDS[scheme])


def check_contrast(colour, scheme):
    """ValidationError unless ``colour`` is readable on ``scheme``'s backgrounds."""
    ratio = lowest_contrast(colour, scheme)
    if ratio < MINIMUM_CONTRAST:
        raise ValidationError(
            f"{colour} has a contrast of {ratio:.2f}:1 against the {scheme} page background; "
            f"links need at least {MINIMUM_CONTRAST}:1. "
            + ("Choose a darker colour." if scheme == "light" else "Choose a lighter colour."),
            code="low_contrast",
        )


def for_dark_scheme(colour):
    """A readable variant of a light-scheme accent for the dark scheme: the
    colour itself if it is readable there, else mixed with white in steps
    until it is (white always is)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    for step in range(0, 21):
        t = step / 20
        mixed = "#" + "".join(f"{round(c + (255 - c) * t):02x}" for c in (r, g, b))
        if lowest_contrast(mixed, "dark") >= MINIMUM_CONTRAST:
            return mixed
    return "#ffffff"
