"""Which writes change the content generation is said on each model.

A model the public faces show (``ShownOnPage``) bumps the generation on every
save and delete; one they do not show says so (``NotShownOnPage``). A model
that says neither fails here, so a new one shown on the page (a group, a
subscriber count, a check result) cannot go stale because nobody remembered.
"""

import pytest
from django.apps import apps
from django.db.models.signals import post_delete, post_save

from incidents.cache import generation
from incidents.cache.generation import NotShownOnPage, ShapesEveryPage, ShownOnPage
from incidents.models import ApiKey, AuditRecord

PROJECT_APPS = {"incidents"}  # add each app of the project here when it gets its own


def project_models():
    return [
        model
        for model in apps.get_models()
        if model._meta.app_config.name.split(".")[0] in PROJECT_APPS
    ]


def test_the_project_has_models_to_check():
    names = {model.__name__ for model in project_models()}
    assert {"Monitor", "Incident", "IncidentUpdate", "Alert", "ApiKey"} <= names


@pytest.mark.parametrize("model", project_models(), ids=lambda model: model._meta.label)
def test_every_model_says_whether_the_page_shows_it(model):
    assert issubclass(model, ShownOnPage) != issubclass(model, NotShownOnPage), (
        f"{model._meta.label} must inherit ShownOnPage (its writes change the content "
        "generation) or NotShownOnPage (no public face shows it)"
    )


@pytest.mark.parametrize("model", project_models(), ids=lambda model: model._meta.label)
def test_shown_models_are_watched_for_saves_and_deletes(model):
    if issubclass(model, ShownOnPage):
        assert post_save.has_listeners(model) and post_delete.has_listeners(model)


def test_the_page_shows_what_it_did_before():
    shown = {model.__name__ for model in project_models() if issubclass(model, ShownOnPage)}
    assert shown == {
        "Monitor",
        "Incident",
        "IncidentUpdate",
        "MaintenanceWindow",
        "IncidentMonitor",
        "MonitorGroup",  # the page's sections (issue 17)
        "PageSettings",  # the name, logo, colours and links on every page
    }


def test_only_the_page_settings_shape_every_page():
    shaping = {model.__name__ for model in project_models() if issubclass(model, ShapesEveryPage)}
    assert shaping == {"PageSettings"}


@pytest.mark.django_db
def test_only_a_write_to_the_page_settings_changes_the_settings_token(make_incident):
    from incidents.appearance.models import PageSettings

    before, settings_before = generation.current(), generation.settings_token()
    make_incident(title="Slow API")
    assert generation.current() != before
    assert generation.settings_token() == settings_before
    row = PageSettings.objects.get_solo()
    assert generation.settings_token() != settings_before
    settings_before = generation.settings_token()
    row.delete()
    assert generation.settings_token() != settings_before


@pytest.mark.django_db
def test_a_write_to_a_model_not_shown_leaves_stored_pages_alone():
    before = generation.current()
    ApiKey.objects.create_key("ci")
    AuditRecord.objects.create(action="created", object_type="x", object_id="x", snapshot={})
    assert generation.current() == before


def systems_token():
    return generation._current(generation.SYSTEMS_KEY)


@pytest.mark.django_db
def test_only_an_entry_on_an_open_incident_leaves_the_systems_token(make_monitor, make_incident):
    """An entry appended to an open incident, its title, monitors and
    resolution untouched, changes the generation and not the systems token;
    every other write changes both (incidents/cache/generation.py)."""
    from incidents.models import Incident

    monitor = make_monitor(name="API")
    incident = make_incident(title="Slow API", monitor_ids=[monitor.id])
    steps = [
        ("an entry", False, lambda: incident.post_update(message="Looking.", notify=False)),
        (
            "a status",
            False,
            lambda: incident.post_update(status="identified", message="Found.", notify=False),
        ),  # fmt: skip
        ("the same title", False, lambda: incident.change(title="Slow API", message="x")),
        ("a title", True, lambda: incident.change(title="Slower API", message="x")),
        ("the monitors", True, lambda: incident.change(monitor_ids=[], message="x")),
        ("resolved", True, lambda: incident.resolve("Fixed.", notify=False)),
        (
            "on a resolved one",
            True,
            lambda: Incident.objects.get(pk=incident.pk).change(message="Postmortem."),
        ),  # fmt: skip
        ("a monitor", True, lambda: monitor.change(name="Public API")),
    ]
    for what, changes_systems, write in steps:
        before, systems_before = generation.current(), systems_token()
        write()
        assert generation.current() != before, what
        assert (systems_token() != systems_before) == changes_systems, what


@pytest.mark.django_db
def test_a_transaction_with_one_write_that_changes_the_systems_section_changes_it(make_incident):
    from django.db import transaction

    incident = make_incident(title="Slow API")
    systems_before = systems_token()
    with transaction.atomic(), generation.bumped_last():
        with generation.systems_unchanged():
            incident.post_update(message="Looking.", notify=False)
        make_incident(title="Another")
    assert systems_token() != systems_before
