"""SVG status badges: /badge.svg for the page, /badge/<monitor id>.svg per monitor."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents.models import Monitor
from incidents.public import badges

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def page_settings(settings):
    settings.KAMUSTATUS_PAGE_NAME = "Kamustatus"


@pytest.fixture(autouse=True)
def at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def read_badge(response):
    """(title, texts, message colour) of a badge, parsed as XML."""
    assert response["Content-Type"].startswith("image/svg+xml")
    root = ET.fromstring(response.content)
    assert root.tag == SVG_NS + "svg"
    title = root.find(SVG_NS + "title").text
    texts = [t.text for t in root.iter(SVG_NS + "text") if t.get("fill-opacity") is None]
    colour = root.findall(f"{SVG_NS}g/{SVG_NS}rect")[1].get("fill")
    return title, texts, colour


def get_badge(client, path, status=200):
    response = client.get(path)
    assert response.status_code == status
    return read_badge(response)


def monitors(make_monitor, *statuses):
    for number, status in enumerate(statuses, start=1):
        make_monitor(id=f"mon_badge{number}", name=f"Service {number}", status=status)


OVERALL_CASES = {
    "operational": (["operational", "operational"], "operational", badges.GREEN),
    "degraded": (["operational", "degraded"], "degraded", badges.YELLOW),
    "partial outage": (["operational", "operational", "down"], "partial outage", badges.ORANGE),
    "major outage": (["down", "operational"], "major outage", badges.RED),
}


@pytest.mark.parametrize("case", list(OVERALL_CASES))
def test_the_page_badge_tells_the_overall_state(client, make_monitor, case):
    statuses, message, colour = OVERALL_CASES[case]
    monitors(make_monitor, *statuses)
    assert get_badge(client, "/badge.svg") == (
        f"Kamustatus: {message}",
        ["Kamustatus", message],
        colour,
    )


def test_the_page_badge_shows_maintenance(client, make_monitor, make_incident):
    monitors(make_monitor, "operational", "operational")
    make_incident(
        title="Upgrade",
        message="Planned.",
        monitor_ids=["mon_badge1"],
        scheduled_start=NOW - HOUR,
        scheduled_end=NOW + HOUR,
    )
    assert get_badge(client, "/badge.svg")[1:] == (["Kamustatus", "maintenance"], badges.BLUE)


def test_an_open_incident_makes_the_page_badge_degraded(client, make_monitor, make_incident):
    monitors(make_monitor, "operational")
    make_incident(title="Something odd")
    assert get_badge(client, "/badge.svg")[1] == ["Kamustatus", "degraded"]


def test_the_page_badge_is_labelled_with_the_page_name(client, db, settings):
    settings.KAMUSTATUS_PAGE_NAME = "Acme status"
    assert get_badge(client, "/badge.svg")[1] == ["Acme status", "operational"]


MONITOR_CASES = {
    "operational": ("operational", badges.GREEN),
    "degraded": ("degraded", badges.YELLOW),
    "down": ("outage", badges.RED),
}


@pytest.mark.parametrize("status", list(MONITOR_CASES))
def test_a_monitor_badge_tells_its_state(client, make_monitor, status):
    make_monitor(id="mon_abc123", name="API", status=status)
    message, colour = MONITOR_CASES[status]
    assert get_badge(client, "/badge/mon_abc123.svg") == (
        f"API: {message}",
        ["API", message],
        colour,
    )


def test_a_monitor_badge_shows_maintenance_only_while_the_window_is_active(
    client, make_monitor, make_incident
):
    make_monitor(id="mon_abc123", name="API", status="down")
    make_incident(
        title="Upgrade",
        message="Planned.",
        monitor_ids=["mon_abc123"],
        scheduled_start=NOW + HOUR,
        scheduled_end=NOW + 2 * HOUR,
    )
    assert get_badge(client, "/badge/mon_abc123.svg")[1] == ["API", "outage"]
    with time_machine.travel(NOW + HOUR, tick=False):
        assert get_badge(client, "/badge/mon_abc123.svg")[1:] == (
            ["API", "maintenance"],
            badges.BLUE,
        )
    with time_machine.travel(NOW + 2 * HOUR, tick=False):
        assert get_badge(client, "/badge/mon_abc123.svg")[1] == ["API", "outage"]


def test_a_badge_changes_as_soon_as_the_monitor_does(client, make_monitor):
    make_monitor(id="mon_abc123", name="API")
    assert get_badge(client, "/badge/mon_abc123.svg")[1] == ["API", "operational"]
    assert get_badge(client, "/badge.svg")[1] == ["Kamustatus", "operational"]
    Monitor.objects.get(pk="mon_abc123").report_status("down")
    assert get_badge(client, "/badge/mon_abc123.svg")[1] == ["API", "outage"]
    assert get_badge(client, "/badge.svg")[1] == ["Kamustatus", "major outage"]
    Monitor.objects.get(pk="mon_abc123").change(name="Public API")
    assert get_badge(client, "/badge/mon_abc123.svg")[1] == ["Public API", "outage"]


@pytest.mark.parametrize(
    "monitor_id", ["mon_nothere", "MON_ABC123", "mon_abc123.svg", "x" * 300, "mon_%3Cb%3E"]
)
def test_an_unknown_monitor_gets_a_404_badge(client, make_monitor, monitor_id):
    make_monitor(id="mon_abc123", name="API")
    title, texts, colour = get_badge(client, f"/badge/{monitor_id}.svg", status=404)
    assert texts == ["monitor", "not found"]
    assert colour == badges.GREY


def test_monitor_names_are_text_not_markup(client, make_monitor):
    name = "<script>alert(\"x\")</script> & 'Co' ]]>"
    make_monitor(id="mon_abc123", name=name)
    response = client.get("/badge/mon_abc123.svg")
    assert b"<script" not in response.content
    title, texts, _colour = read_badge(response)
    assert texts == [name, "operational"]
    assert title == f"{name}: operational"


def test_characters_xml_cannot_hold_are_dropped(client, make_monitor):
    # Refused as input now; a row stored before that rule still draws.
    monitor = make_monitor(id="mon_abc123", name="Bad name")
    Monitor.objects.filter(pk=monitor.pk).update(name="Bad\x01name\x1b[31m\ufffe")
    _title, texts, _colour = get_badge(client, "/badge/mon_abc123.svg")
    assert texts == ["Badname[31m", "operational"]


def test_long_names_are_shortened_and_wider_badges_are_wider(client, make_monitor):
    make_monitor(id="mon_short1", name="API")
    make_monitor(id="mon_long01", name="A very long monitor name " * 4)
    _title, texts, _colour = get_badge(client, "/badge/mon_long01.svg")
    assert texts[0].endswith("…")
    assert len(texts[0]) == badges.LABEL_MAX_CHARACTERS

    def width(path):
        return int(ET.fromstring(client.get(path).content).get("width"))

    assert width("/badge/mon_long01.svg") > width("/badge/mon_short1.svg") + 150


def test_badges_are_safe_under_any_content_security_policy(client, make_monitor):
    make_monitor(id="mon_abc123", name="API")
    for path in ("/badge.svg", "/badge/mon_abc123.svg", "/badge/mon_nothere.svg"):
        root = ET.fromstring(client.get(path).content)
        tags = {element.tag.removeprefix(SVG_NS) for element in root.iter()}
        assert not tags & {"script", "style", "foreignObject", "image", "a"}
        for element in root.iter():
            assert "style" not in element.attrib
            assert not any(name.startswith("on") for name in element.attrib)
            assert not any("href" in name for name in element.attrib)


def test_badges_are_never_cached_for_long_and_open_to_all(client, make_monitor):
    make_monitor(id="mon_abc123", name="API")
    for path in ("/badge.svg", "/badge/mon_abc123.svg", "/badge/mon_nothere.svg"):
        response = client.get(path)
        assert response["Cache-Control"] == "no-cache"
        assert response["Access-Control-Allow-Origin"] == "*"
        assert response["X-Content-Type-Options"] == "nosniff"
        # Nothing to load, nothing to run, even when the SVG is opened directly.
        assert response["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_an_unchanged_badge_is_not_sent_again(client, make_monitor):
    make_monitor(id="mon_abc123", name="API")
    for path in ("/badge.svg", "/badge/mon_abc123.svg"):
        etag = client.get(path)["ETag"]
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
    etag = client.get("/badge/mon_abc123.svg")["ETag"]
    Monitor.objects.get(pk="mon_abc123").report_status("degraded")
    assert client.get("/badge/mon_abc123.svg", headers={"If-None-Match": etag}).status_code == 200


def contrast_with_white(colour):
    """WCAG contrast ratio of white text on ``colour``."""
    colour = colour.lstrip("#")
    if len(colour) == 3:
        colour = "".join(c * 2 for c in colour)
    channels = [int(colour[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)


def test_badge_text_is_readable_on_every_colour():
    colours = {badges.LABEL_GREY, badges.GREY}
    colours |= {colour for _message, colour in badges.OVERALL.values()}
    colours |= {colour for _message, colour in badges.MONITOR.values()}
    assert {
        c: round(contrast_with_white(c), 2) for c in colours if contrast_with_white(c) < 4.5
    } == {}


def test_a_deleted_monitor_loses_its_badge(client, make_monitor):
    make_monitor(id="mon_abc123", name="API")
    assert client.get("/badge/mon_abc123.svg").status_code == 200
    Monitor.objects.get(pk="mon_abc123").delete_with_audit()
    assert get_badge(client, "/badge/mon_abc123.svg", status=404)[1] == ["monitor", "not found"]
