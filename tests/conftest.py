import pytest

from incidents.models import ApiKey, Incident, Monitor


@pytest.fixture
def make_monitor(db):
    counter = iter(range(1, 10_000))

    def make(name=None, **fields):
        number = next(counter)
        fields.setdefault("id", f"mon_test{number:03d}")
        return Monitor.create_monitor(name=name or f"Monitor {number}", **fields)

    return make


@pytest.fixture
def make_incident(db):
    def make(title="Something is wrong", message="We are investigating.", **fields):
        return Incident.open_incident(title=title, message=message, **fields)

    return make


@pytest.fixture
def api_key(db):
    """A usable key: (ApiKey, raw key)."""
    return ApiKey.objects.create_key("tests")


@pytest.fixture
def raw_key(api_key):
    return api_key[1]
