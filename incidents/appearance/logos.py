"""Uploaded logos: what is accepted, and how it is sent.

A logo is kept in the database (``PageSettings.logo``), so a database backup
holds it and every host serves the same one. Accepted: PNG, JPEG and WebP,
recognised by their signatures, and SVG that parses as XML and holds nothing
active (no script, event handler, foreign object, external reference, DTD or
entity) — anything else is refused, not cleaned. Whatever is served also goes
out with a policy that allows no script and no external loads at all
(``SERVED_POLICY``), and as an ``<img>``, which never runs script.
"""

import hashlib
from xml.etree import ElementTree

from django.core.exceptions import ValidationError

MAX_BYTES = 512 * 1024

TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/svg+xml": ".svg"}

SERVED_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"

SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"
# Elements that run script, embed documents or load elsewhere.
REFUSED_SVG_ELEMENTS = {
    "script", "foreignobject", "iframe", "embed", "object", "handler", "listener", "animate",
    "set", "animatemotion", "animatetransform", "use", "image", "feimage",
}  # fmt: skip


def _refuse(message):
    raise ValidationError(message, code="invalid_logo")


def sniff(data):
    """The content type of ``data`` if it is an accepted image, else raise."""
    if len(data) > MAX_BYTES:
        _refuse(f"The logo is larger than {MAX_BYTES // 1024} KiB, the most accepted.")
    if not data:
        _refuse("The file is empty.")
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    head = data[:1024].lstrip().lower()
    if head.startswith((b"<?xml", b"<svg", b"<!--")):
        _check_svg(data)
        return "image/svg+xml"
    _refuse("Upload a PNG, JPEG, WebP or SVG image.")


def _check_svg(data):
    if b"<!doctype" in data.lower() or b"<!entity" in data.lower():
        _refuse("SVG logos may not contain a DTD or entities.")
    try:
        root = ElementTree.fromstring(data)  # noqa: S314 - no DTD or entities (checked above)
    except ElementTree.ParseError:
        _refuse("The SVG file does not parse as XML.")
    if root.tag not in (f"{SVG_NAMESPACE}svg", "svg"):
        _refuse("The SVG file's root element is not <svg>.")
    for element in root.iter():
        name = str(element.tag).rsplit("}", 1)[-1].lower()
        if name in REFUSED_SVG_ELEMENTS:
            _refuse(f"SVG logos may not contain <{name}> elements.")
        for attribute, value in element.attrib.items():
            attribute = attribute.rsplit("}", 1)[-1].lower()
            if attribute.startswith("on"):
                _refuse(f"SVG logos may not contain event handlers ({attribute}).")
            if attribute == "href" and not value.strip().startswith("#"):
                _refuse("SVG logos may not link or load anything outside themselves.")
            if "url(" in value.lower() and "url(#" not in value.lower().replace(" ", ""):
                _refuse("SVG logos may not load anything outside themselves.")
        if (
            name == "style"
            and element.text
            and ("@import" in element.text.lower() or "url(" in element.text.lower())
        ):
            _refuse("SVG logos may not load anything outside themselves.")


def digest(data):
    return hashlib.sha256(data).hexdigest()[:16]
