"""Groups and order on the status page at / (issue 17): collapsible sections
without JavaScript, the worst state of their monitors, ungrouped monitors in
their place, descriptions as text."""

import re
from html.parser import HTMLParser

import pytest

from incidents.groups.models import MonitorGroup
from incidents.models import Monitor
from tests import writes

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(autouse=True)
def fresh_pages(db):
    writes.committed()


class Systems(HTMLParser):
    """The list of systems as a visitor reads it: each section (a group's
    <details> with its summary, or a plain list) with its monitors' rows."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sections, self.where, self.text = [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "details" and "group" in classes:
            self.sections.append(
                {"group": None, "open": "open" in attrs, "class": classes, "rows": []}
            )
            self.where = "group"
        elif tag == "summary" and self.where == "group":
            self.text, self.where = [], "summary"
        elif tag == "ul" and "monitors" in classes and self.where is None:
            self.sections.append({"group": None, "rows": []})
            self.where = "list"
        elif tag == "li" and "monitor" in classes:
            self.text = []
            self.sections[-1]["rows"].append(classes[1].removeprefix("monitor-"))
        elif "uptime-bars" in classes and self.text is not None:
            self.end_row()  # the row's words end where its uptime bars begin

    def end_row(self):
        rows = self.sections[-1]["rows"]
        rows[-1] = (rows[-1], " ".join("".join(self.text).split()))
        self.text = None

    def handle_data(self, data):
        if self.text is not None:
            self.text.append(data)

    def handle_endtag(self, tag):
        if tag == "summary" and self.where == "summary":
            self.sections[-1]["group"] = " ".join("".join(self.text).split())
            self.text, self.where = None, "group"
        elif tag == "li" and self.text is not None:
            self.end_row()
        elif (tag, self.where) in (("details", "group"), ("ul", "list")):
            self.where = None


def systems(client, **headers):
    response = client.get("/", headers=headers)
    assert response.status_code == 200
    html = response.content.decode()
    section = html[html.index('id="monitors-heading"') :]
    reader = Systems()
    reader.feed(section[: section.index("</section>")])
    return reader.sections, html


@pytest.fixture
def page_with_groups(make_monitor):
    MonitorGroup.create_group(id="grp_core", name="Core services", position=1)
    MonitorGroup.create_group(id="grp_edge", name="Edge", position=3, description="CDN & DNS")
    make_monitor(id="mon_api001", name="API", group_id="grp_core", position=2)
    make_monitor(id="mon_db0001", name="Database", group_id="grp_core", position=1)
    make_monitor(id="mon_web001", name="Website", position=2, description="www.example.com")
    make_monitor(id="mon_dns001", name="DNS", group_id="grp_edge")
    make_monitor(id="mon_old001", name="Legacy", position=9)


def test_groups_are_open_sections_in_page_order_with_ungrouped_monitors_between(
    client, page_with_groups
):
    sections, html = systems(client)
    assert [(s["group"], s["rows"]) for s in sections] == [
        ("Core services Operational", [("operational", "Database Operational"),
                                       ("operational", "API Operational")]),
        (None, [("operational", "Website Operational www.example.com")]),
        ("Edge Operational", [("operational", "DNS Operational")]),
        (None, [("operational", "Legacy Operational")]),
    ]  # fmt: skip
    assert all(s["open"] for s in sections if s["group"])
    assert '<p class="group-description">CDN &amp; DNS</p>' in html


@pytest.mark.parametrize(
    ("statuses", "state", "label"),
    [
        ({}, "operational", "Operational"),
        ({"mon_db0001": Monitor.DEGRADED}, "degraded", "Degraded performance"),
        ({"mon_db0001": Monitor.DEGRADED, "mon_api001": Monitor.DOWN}, "down", "Outage"),
    ],
)
def test_a_groups_state_is_the_worst_of_its_monitors(
    client, page_with_groups, statuses, state, label
):
    for monitor_id, status in statuses.items():
        Monitor.objects.get(pk=monitor_id).report_status(status)
    sections, _html = systems(client)
    core = sections[0]
    assert core["group"] == f"Core services {label}"
    assert f"group-{state}" in core["class"]
    assert sections[2]["group"] == "Edge Operational"


def test_a_group_under_maintenance(client, page_with_groups, make_incident):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    make_incident(
        title="DNS move",
        monitor_ids=["mon_dns001"],
        scheduled_start=now - timedelta(hours=1),
        scheduled_end=now + timedelta(hours=1),
    )
    sections, _html = systems(client)
    assert sections[2]["group"] == "Edge Under maintenance"
    assert sections[2]["rows"] == [("maintenance", "DNS Under maintenance")]


def test_reordering_and_moving_show_at_once(client, page_with_groups):
    systems(client)  # stored
    Monitor.objects.get(pk="mon_api001").change(position=0)
    Monitor.objects.get(pk="mon_old001").change(group_id="grp_edge")
    MonitorGroup.objects.get(pk="grp_edge").change(position=0)
    sections, _html = systems(client)
    assert [(s["group"], [r[1].split()[0] for r in s["rows"]]) for s in sections] == [
        ("Edge Operational", ["DNS", "Legacy"]),
        ("Core services Operational", ["API", "Database"]),
        (None, ["Website"]),
    ]


def test_deleting_a_group_shows_its_monitors_ungrouped(client, page_with_groups):
    MonitorGroup.objects.get(pk="grp_core").delete_with_audit()
    sections, _html = systems(client)
    assert [s["group"] for s in sections] == [None, "Edge Operational", None]
    assert [r[1].split()[0] for r in sections[0]["rows"]] == ["Database", "API", "Website"]


def test_names_and_descriptions_are_shown_as_text(client, make_monitor):
    MonitorGroup.create_group(id="grp_evil", name=SCRIPT, description=SCRIPT)
    make_monitor(name="API", description=SCRIPT, group_id="grp_evil")
    _sections, html = systems(client)
    assert SCRIPT not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3


def test_the_htmx_refresh_carries_the_groups(client, page_with_groups):
    response = client.get("/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="live"')
    assert re.search(r'<details class="group group-operational" id="group-grp_core" open>', html)


def test_the_page_costs_no_more_queries_with_groups(
    client, page_with_groups, django_assert_max_num_queries, make_monitor
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def render_again():
        """A render after a write, by a process that has rendered the page
        before: what it keeps across writes (the page settings, the monitors'
        closed days) is kept, as in every render but a process's first."""
        writes.committed()
        client.get("/")
        writes.committed()

    render_again()
    with CaptureQueriesContext(connection) as few:
        client.get("/")
    for number in range(5):
        MonitorGroup.create_group(id=f"grp_more{number}", name=f"More {number}")
        make_monitor(group_id=f"grp_more{number}")
    render_again()
    with CaptureQueriesContext(connection) as many:
        client.get("/")
    assert len(many) == len(few)
