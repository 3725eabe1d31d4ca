"""The worker loop runs the periodic duties registered in incidents.queue:
adding one is adding a function, and one failing never stops the others."""

import pytest
from django.core.management import call_command

from incidents import queue


@pytest.fixture
def registry(monkeypatch):
    """Duties registered by a test are gone after it."""
    queue.discover()
    monkeypatch.setattr(queue, "_duties", queue.duties())


def test_the_alert_duties_are_registered(registry):
    names = [duty.name for duty in queue.duties()]
    # The alerts app's duties, found by discovery whatever order the apps' task
    # modules were first imported in (a fresh process imports checks first).
    assert {"window_ends", "requeue_stranded_deliveries"} <= set(names)
    assert len(names) == len(set(names))


def test_a_new_duty_is_a_function_the_worker_runs(db, registry):
    ran = []

    @queue.periodic_duty(every=5)
    def count_the_runs():
        ran.append(1)

    call_command("worker", "--once")
    assert ran == [1]
    assert count_the_runs.duty.seconds_to_next_run() == 5
    assert count_the_runs.duty.seconds_to_next_run(every=2) == 2


def test_a_failing_duty_is_logged_and_the_others_still_run(db, registry, caplog):
    ran = []

    @queue.periodic_duty()
    def broken():
        raise RuntimeError("the peer is away")

    @queue.periodic_duty()
    def after_it():
        ran.append(1)

    with caplog.at_level("ERROR", logger="incidents.worker"):
        call_command("worker", "--once")
    assert ran == [1]
    assert "periodic duty 'broken' failed" in caplog.text


def test_a_duty_wakes_at_its_moment_when_that_comes_first(registry):
    from datetime import timedelta

    @queue.periodic_duty(every=60, wake_at=lambda now: now + timedelta(seconds=3))
    def soon():
        pass

    assert soon.duty.seconds_to_next_run() == pytest.approx(3, abs=0.1)
    assert soon.duty.seconds_to_next_run(every=1) == 1


def test_a_duty_declared_again_replaces_the_first(registry):
    @queue.periodic_duty(name="twice")
    def first():
        pass

    @queue.periodic_duty(name="twice")
    def second():
        pass

    assert [duty.run for duty in queue.duties() if duty.name == "twice"] == [second]
