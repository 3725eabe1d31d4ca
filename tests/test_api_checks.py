"""The ``check`` object on /api/monitors: every setting, every bound, the
defaults, replacing and removing a check, and GET /api/monitors/:id/checks."""

from datetime import UTC, datetime, timedelta

import pytest

from incidents.models import Check, CheckResult, Monitor

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

URL = "https://api.example.com/health"


def create(api, check, **fields):
    return api("POST", "/api/monitors", {"name": "API", "check": check, **fields})


def errors(response):
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
    return response.json()["error"]["fields"]


def test_an_http_check_gets_every_default_in_the_contract_order(api):
    response = create(api, {"type": "http", "url": URL}, id="mon_abc123")
    assert response.status_code == 201, response.content
    body = response.json()
    assert list(body)[-4:] == ["check", "lastCheckedAt", "responseTimeMs", "lastError"]
    assert body["check"] == {
        "type": "http",
        "url": URL,
        "method": "GET",
        "expectedStatus": None,
        "keyword": None,
        "keywordAbsent": False,
        "degradedAboveMs": None,
        "certificateExpiryDays": 14,
        "interval": 60,
        "timeout": 10,
        "failuresBeforeDown": 2,
        "successesBeforeUp": 1,
    }
    assert (body["lastCheckedAt"], body["responseTimeMs"], body["lastError"]) == (None,) * 3
    assert api("GET", "/api/monitors/mon_abc123").json() == body


def test_every_http_setting_can_be_chosen(api):
    check = {
        "type": "http",
        "url": URL,
        "method": "GET",
        "expectedStatus": [200, 204],
        "keyword": "ok",
        "keywordAbsent": True,
        "degradedAboveMs": 800,
        "certificateExpiryDays": None,
        "interval": 10,
        "timeout": 5,
        "failuresBeforeDown": 10,
        "successesBeforeUp": 10,
    }
    assert create(api, check).json()["check"] == check


def test_a_tcp_check(api):
    body = create(api, {"type": "tcp", "host": "db.example.com", "port": 5432}).json()
    assert body["check"] == {
        "type": "tcp",
        "host": "db.example.com",
        "port": 5432,
        "interval": 60,
        "timeout": 10,
        "failuresBeforeDown": 2,
        "successesBeforeUp": 1,
    }


def test_a_heartbeat_gets_a_ping_url_that_survives_a_change(api, settings):
    settings.KAMUSTATUS_PAGE_URL = "https://status.example.com"
    body = create(api, {"type": "heartbeat", "period": 300, "grace": 60}, id="mon_cron01").json()
    ping_url = body["check"]["pingUrl"]
    assert ping_url.startswith("https://status.example.com/ping/")
    assert body["check"] == {"type": "heartbeat", "period": 300, "grace": 60, "pingUrl": ping_url}
    changed = api("PATCH", "/api/monitors/mon_cron01", {"check": {"type": "heartbeat",
                                                                  "period": 600}})  # fmt: skip
    assert changed.json()["check"] == {
        "type": "heartbeat",
        "period": 600,
        "grace": 3600,
        "pingUrl": ping_url,
    }


def test_a_check_is_replaced_and_removed(api):
    create(api, {"type": "http", "url": URL}, id="mon_abc123")
    replaced = api("PATCH", "/api/monitors/mon_abc123",
                   {"check": {"type": "tcp", "host": "api.example.com", "port": 443}})  # fmt: skip
    assert replaced.json()["check"]["type"] == "tcp"
    assert Check.objects.get().type == "tcp"
    removed = api("PATCH", "/api/monitors/mon_abc123", {"check": None})
    assert removed.json()["check"] is None
    assert not Check.objects.exists()


HTTP = {"type": "http", "url": URL}
WHOLE = "must be a whole number from {} to {}"


@pytest.mark.parametrize(
    ("check", "fields"),
    [
        ("http", {"check": "must be an object with a type (http, tcp, heartbeat), or null"}),
        ([], {"check": "must be an object with a type (http, tcp, heartbeat), or null"}),
        ({}, {"check.type": "is required"}),
        ({"type": "ping"}, {"check.type": "must be one of: http, tcp, heartbeat"}),
        ({"type": "http"}, {"check.url": "is required"}),
        ({"type": "tcp"}, {"check.host": "is required", "check.port": "is required"}),
        ({**HTTP, "url": "ftp://example.com/"},
         {"check.url": "must be an http or https URL of at most 2000 characters"}),
        ({**HTTP, "url": "https://"},
         {"check.url": "must be an http or https URL of at most 2000 characters"}),
        ({**HTTP, "url": "https://example.com:99999/"},
         {"check.url": "must be an http or https URL of at most 2000 characters"}),
        ({**HTTP, "url": "https://example.com/" + "a" * 2000},
         {"check.url": "must be an http or https URL of at most 2000 characters"}),
        ({**HTTP, "url": 5},
         {"check.url": "must be an http or https URL of at most 2000 characters"}),
        ({**HTTP, "method": "POST"}, {"check.method": "must be one of: GET, HEAD"}),
        ({**HTTP, "expectedStatus": []},
         {"check.expectedStatus": "must be an array of distinct HTTP status codes from 100 to "
                                  "599, or null"}),
        ({**HTTP, "expectedStatus": [200, 200]},
         {"check.expectedStatus": "must be an array of distinct HTTP status codes from 100 to "
                                  "599, or null"}),
        ({**HTTP, "expectedStatus": [600]},
         {"check.expectedStatus": "must be an array of distinct HTTP status codes from 100 to "
                                  "599, or null"}),
        ({**HTTP, "expectedStatus": ["200"]},
         {"check.expectedStatus": "must be an array of distinct HTTP status codes from 100 to "
                                  "599, or null"}),
        ({**HTTP, "keyword": ""},
         {"check.keyword": "must be a string of 1 to 1000 characters, or null"}),
        ({**HTTP, "keyword": "k" * 1001},
         {"check.keyword": "must be a string of 1 to 1000 characters, or null"}),
        ({**HTTP, "keywordAbsent": "yes"}, {"check.keywordAbsent": "must be true or false"}),
        ({**HTTP, "keywordAbsent": True}, {"check.keywordAbsent": "needs a keyword"}),
        ({**HTTP, "method": "HEAD", "keyword": "ok"},
         {"check.keyword": "needs method GET: an answer to HEAD has no body"}),
        ({**HTTP, "degradedAboveMs": 0},
         {"check.degradedAboveMs": WHOLE.format(1, 60000) + ", or null"}),
        ({**HTTP, "degradedAboveMs": 10000},
         {"check.degradedAboveMs": "must be less than the timeout (10000 ms)"}),
        ({**HTTP, "certificateExpiryDays": 0},
         {"check.certificateExpiryDays": WHOLE.format(1, 365) + ", or null"}),
        ({**HTTP, "certificateExpiryDays": 366},
         {"check.certificateExpiryDays": WHOLE.format(1, 365) + ", or null"}),
        ({**HTTP, "interval": 9}, {"check.interval": WHOLE.format(10, 86400)}),
        ({**HTTP, "interval": 86401}, {"check.interval": WHOLE.format(10, 86400)}),
        ({**HTTP, "interval": 60.5}, {"check.interval": WHOLE.format(10, 86400)}),
        ({**HTTP, "interval": True}, {"check.interval": WHOLE.format(10, 86400)}),
        ({**HTTP, "interval": None}, {"check.interval": WHOLE.format(10, 86400)}),
        ({**HTTP, "timeout": 0}, {"check.timeout": WHOLE.format(1, 60)}),
        ({**HTTP, "timeout": 61}, {"check.timeout": WHOLE.format(1, 60)}),
        ({**HTTP, "failuresBeforeDown": 0}, {"check.failuresBeforeDown": WHOLE.format(1, 10)}),
        ({**HTTP, "failuresBeforeDown": 11}, {"check.failuresBeforeDown": WHOLE.format(1, 10)}),
        ({**HTTP, "successesBeforeUp": 0}, {"check.successesBeforeUp": WHOLE.format(1, 10)}),
        ({**HTTP, "successesBeforeUp": 11}, {"check.successesBeforeUp": WHOLE.format(1, 10)}),
        ({"type": "tcp", "host": "db.example.com", "port": 0},
         {"check.port": WHOLE.format(1, 65535)}),
        ({"type": "tcp", "host": "db.example.com", "port": 65536},
         {"check.port": WHOLE.format(1, 65535)}),
        ({"type": "tcp", "host": "db example", "port": 5432},
         {"check.host": "must be a host name or an IP address of at most 253 characters"}),
        ({"type": "heartbeat", "period": 9}, {"check.period": WHOLE.format(10, 2592000)}),
        ({"type": "heartbeat", "period": 2592001}, {"check.period": WHOLE.format(10, 2592000)}),
        ({"type": "heartbeat", "grace": 4}, {"check.grace": WHOLE.format(5, 2592000)}),
        ({"type": "heartbeat", "grace": 2592001}, {"check.grace": WHOLE.format(5, 2592000)}),
        ({"type": "heartbeat", "pingUrl": "https://x/"},
         {"check.pingUrl": "is read-only and cannot be set here"}),
        ({"type": "heartbeat", "interval": 60},
         {"check.interval": "unknown field for a heartbeat check; allowed: type, period, grace"}),
        ({"type": "tcp", "host": "db.example.com", "port": 1, "url": URL},
         {"check.url": "unknown field for a tcp check; allowed: type, host, port, interval, "
                       "timeout, failuresBeforeDown, successesBeforeUp"}),
        ({**HTTP, "interval": 5, "timeout": 0},
         {"check.interval": WHOLE.format(10, 86400), "check.timeout": WHOLE.format(1, 60)}),
    ],
)  # fmt: skip
def test_it_refuses_bad_checks_naming_each_setting(api, check, fields):
    assert errors(create(api, check)) == fields
    assert not Monitor.objects.exists()


def test_a_bad_check_in_a_patch_changes_nothing(api):
    create(api, {"type": "http", "url": URL}, id="mon_abc123")
    bad = {"type": "http", "url": URL, "timeout": 99}
    response = api("PATCH", "/api/monitors/mon_abc123", {"name": "Renamed", "check": bad})
    assert errors(response) == {"check.timeout": WHOLE.format(1, 60)}
    monitor = Monitor.objects.get()
    assert (monitor.name, monitor.health_check.timeout) == ("API", 10)


@pytest.mark.parametrize("field", ["lastCheckedAt", "responseTimeMs", "lastError"])
def test_the_last_result_is_read_only(api, field):
    assert errors(api("POST", "/api/monitors", {"name": "API", field: None})) == {
        field: "is read-only and cannot be set here"
    }


def test_results_are_listed_newest_first_in_pages(api, make_monitor):
    make_monitor(id="mon_abc123", check={"type": "http", "url": URL})
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for minute in range(5):
        CheckResult.objects.create(
            monitor_id="mon_abc123",
            checked_at=start + timedelta(minutes=minute),
            status="down" if minute % 2 else "operational",
            response_time_ms=None if minute % 2 else 100 + minute,
            error="status 503" if minute % 2 else None,
        )
    first = api("GET", "/api/monitors/mon_abc123/checks?limit=2")
    assert first.status_code == 200
    assert first.json() == [
        {"checkedAt": "2026-01-01T00:04:00Z", "status": "operational", "responseTimeMs": 104,
         "error": None},
        {"checkedAt": "2026-01-01T00:03:00Z", "status": "down", "responseTimeMs": None,
         "error": "status 503"},
    ]  # fmt: skip
    seen = [item["checkedAt"] for item in first.json()]
    link = first["Link"]
    while link:
        url = link.split(">")[0].lstrip("<").removeprefix("http://testserver")
        page = api("GET", url)
        seen += [item["checkedAt"] for item in page.json()]
        link = page.get("Link")
    assert seen == [f"2026-01-01T00:0{minute}:00Z" for minute in (4, 3, 2, 1, 0)]


def test_results_of_an_unknown_monitor_are_not_found(api):
    assert api("GET", "/api/monitors/mon_nope01/checks").status_code == 404


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("limit=101", {"limit": "must be a whole number from 1 to 100"}),
        ("cursor=nope!", {"cursor": "is not a cursor from this API; use the link in the "
                                    "previous response"}),
        # An incident's cursor (a string id) is not a result's.
        ("cursor=MjAyNi0wMS0wMVQwMDowMDowMC4wMDAwMDB8aW5jX2FiYw",
         {"cursor": "is not a cursor from this API; use the link in the previous response"}),
        ("status=down", {"status": "unknown query parameter; allowed: limit, cursor"}),
    ],
)  # fmt: skip
def test_bad_result_queries_are_refused(api, make_monitor, query, fields):
    make_monitor(id="mon_abc123")
    assert errors(api("GET", f"/api/monitors/mon_abc123/checks?{query}")) == fields
