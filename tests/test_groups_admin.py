"""Groups and order in the operators' admin (issue 17), as a browser submits
its forms (tests/admin_forms.py); the browser itself is in
tests/test_groups_browser.py."""

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from incidents.groups.models import MonitorGroup
from incidents.models import AuditRecord, Monitor
from tests.admin_forms import page_form, submit

pytestmark = pytest.mark.django_db

MONITORS = reverse("admin:incidents_monitor_changelist")
GROUPS = reverse("admin:incidents_monitorgroup_changelist")


@pytest.fixture
def operator(admin_client):
    return admin_client


@pytest.fixture
def world(make_monitor):
    MonitorGroup.create_group(id="grp_core", name="Core", position=1)
    for monitor_id, name in [("mon_api001", "API"), ("mon_web001", "Website")]:
        make_monitor(id=monitor_id, name=name)


def row_of(client, url, pk):
    """The prefix (``form-N``) of the list row editing ``pk``."""
    data = page_form(client.get(url), "changelist-form")
    (name,) = [name for name, values in data.items() if name.endswith("-id") and values == [pk]]
    return name.removesuffix("-id")


def edit_list(client, url, rows):
    """Type into the list's rows ({pk: {field: value}}) and press Save."""
    fields = {"_save": "Save"}
    for pk, values in rows.items():
        prefix = row_of(client, url, pk)
        fields.update({f"{prefix}-{name}": str(value) for name, value in values.items()})
    return submit(client, url, "changelist-form", **fields)


def test_the_monitors_list_is_in_page_order_and_reorders_in_place(operator, world):
    listing = operator.get(MONITORS).content.decode()
    assert listing.index("mon_api001") < listing.index("mon_web001")
    response = edit_list(
        operator,
        MONITORS,
        {"mon_web001": {"position": 2, "group": "grp_core"}, "mon_api001": {"position": 3}},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    web, api = Monitor.objects.get(pk="mon_web001"), Monitor.objects.get(pk="mon_api001")
    assert (web.group_id, web.position, api.group_id, api.position) == ("grp_core", 2, None, 3)
    assert [m.id for m in Monitor.objects.in_page_order()] == ["mon_web001", "mon_api001"]
    record = AuditRecord.objects.filter(object_id="mon_web001").first()
    assert record.changes == {"groupId": "grp_core", "position": 2}
    assert record.actor == "admin admin"
    listing = operator.get(MONITORS).content.decode()
    assert listing.index("mon_web001") < listing.index("mon_api001")


def test_a_bad_position_in_the_list_is_refused_with_the_domains_words(operator, world):
    response = edit_list(operator, MONITORS, {"mon_api001": {"position": 2_000_000}})
    assert response.status_code == 200
    assert "must be a whole number from 0 to 1000000" in response.content.decode()
    assert Monitor.objects.get(pk="mon_api001").position == 0


def test_a_monitors_page_sets_its_description_and_group(operator, world):
    url = reverse("admin:incidents_monitor_change", args=[quote("mon_api001")])
    response = submit(
        operator, url, "monitor_form", description="Our API.", group="grp_core", position="4"
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    api = Monitor.objects.get(pk="mon_api001")
    assert (api.description, api.group_id, api.position) == ("Our API.", "grp_core", 4)
    cleared = submit(operator, url, "monitor_form", description="", group="")
    assert cleared.status_code == 302
    api.refresh_from_db()
    assert (api.description, api.group_id) == (None, None)


def test_groups_are_added_ordered_and_deleted_keeping_their_monitors(operator, world):
    response = submit(
        operator,
        reverse("admin:incidents_monitorgroup_add"),
        "monitorgroup_form",
        name="Edge",
        description="CDN",
        position="0",
    )
    assert response.status_code == 302
    edge = MonitorGroup.objects.get(name="Edge")
    assert (edge.description, edge.position, edge.id[:4]) == ("CDN", 0, "grp_")
    assert AuditRecord.objects.filter(object_id=edge.id, action="created").exists()
    Monitor.objects.get(pk="mon_web001").change(group_id="grp_core")
    page = operator.get(reverse("admin:incidents_monitorgroup_change", args=["grp_core"]))
    assert "Website" in page.content.decode()

    listing = edit_list(operator, GROUPS, {"grp_core": {"position": 5}})
    assert listing.status_code == 302
    assert [g.id for g in MonitorGroup.objects.in_page_order()] == [edge.id, "grp_core"]

    url = reverse("admin:incidents_monitorgroup_delete", args=["grp_core"])
    assert operator.post(url, {"post": "yes"}).status_code == 302
    assert not MonitorGroup.objects.filter(pk="grp_core").exists()
    assert Monitor.objects.get(pk="mon_web001").group_id is None
    assert AuditRecord.objects.filter(object_id="grp_core", action="deleted").exists()


def test_a_group_needs_a_name(operator, db):
    response = submit(
        operator, reverse("admin:incidents_monitorgroup_add"), "monitorgroup_form", name="  "
    )
    assert response.status_code == 200
    assert not MonitorGroup.objects.exists()
