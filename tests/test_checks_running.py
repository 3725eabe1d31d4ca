"""Checks run against real peers the tests start: an HTTP(S) server that
answers 200, 500, slowly, with or without a keyword, in a redirect loop or
with a 10 MB body, a TLS server whose certificate expires in 3 days, a TCP
listener and a closed port. Loopback is allowed here (CHECKS_ALLOW_PRIVATE)."""

import datetime as dt

import pytest
import trustme

from incidents.checks.scheduler import run_checks_now
from incidents.models import CheckResult, Monitor
from tests.check_peers import closed_port, http_target, tcp_listener

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def allow_loopback(settings):
    settings.CHECKS_ALLOW_PRIVATE = True


@pytest.fixture
def target():
    with http_target() as running:
        yield running


def check_once(make_monitor, **check):
    check.setdefault("type", "http")
    monitor = make_monitor(check=check)
    [outcome] = run_checks_now([monitor.pk])
    return outcome, Monitor.objects.get(pk=monitor.pk)


def test_a_healthy_answer_with_its_keyword_is_operational(make_monitor, target):
    outcome, monitor = check_once(make_monitor, url=target.base + "/", keyword="kamustatus")
    assert (outcome.status, outcome.error) == ("operational", None)
    assert isinstance(outcome.response_time_ms, int)
    body = monitor.to_dict()
    assert body["lastCheckedAt"] is not None
    assert body["responseTimeMs"] == outcome.response_time_ms
    assert body["lastError"] is None
    assert CheckResult.objects.get(monitor=monitor).status == "operational"
    assert target.user_agents[0].startswith("Kamustatus")


@pytest.mark.parametrize(
    ("path", "check", "error"),
    [
        ("/status/500", {}, "status 500"),
        ("/status/404", {"expectedStatus": [200, 204]}, "status 404"),
        ("/", {"keyword": "Statuspage"}, "keyword missing"),
        ("/", {"keyword": "Welcome", "keywordAbsent": True}, "keyword present"),
        ("/loop", {}, "too many redirects (more than 5)"),
        ("/slow", {"timeout": 1}, "timed out after 1 s"),
    ],
)
def test_a_failed_answer_says_why(make_monitor, target, path, check, error):
    outcome, _monitor = check_once(make_monitor, url=target.base + path, **check)
    assert (outcome.status, outcome.error) == ("down", error)


def test_a_redirect_loop_is_followed_five_times_then_refused(make_monitor, target):
    check_once(make_monitor, url=target.base + "/loop")
    assert target.hits["/loop"] == 6  # the first request and 5 redirects


def test_an_expected_status_may_be_an_error_code(make_monitor, target):
    outcome, _ = check_once(make_monitor, url=target.base + "/status/503", expectedStatus=[503])
    assert outcome.status == "operational"


def test_head_is_enough_for_the_status(make_monitor, target):
    outcome, _ = check_once(make_monitor, url=target.base + "/", method="HEAD")
    assert outcome.status == "operational"


def test_a_slow_answer_is_degraded(make_monitor, target):
    outcome, _ = check_once(make_monitor, url=target.base + "/slow", timeout=10,
                            degradedAboveMs=1000)  # fmt: skip
    assert outcome.status == "degraded"
    assert outcome.error.startswith("slow: ")
    assert outcome.error.endswith(" ms (over 1000 ms)")
    assert outcome.response_time_ms >= 1000


def test_a_huge_body_is_read_no_further_than_1_mib(make_monitor, target):
    outcome, _ = check_once(make_monitor, url=target.base + "/big", keyword="kamustatus")
    # The keyword comes after 2 MiB of x's: not in the first MiB.
    assert (outcome.status, outcome.error) == ("down", "keyword missing")


def test_the_error_never_holds_the_body(make_monitor, target):
    outcome, _ = check_once(make_monitor, url=target.base + "/status/500", keyword="x")
    assert "something" not in outcome.error


@pytest.fixture
def tls_target(tmp_path, settings):
    ca = trustme.CA()
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=3, hours=1)
    certificate = ca.issue_cert("127.0.0.1", not_after=expires)
    server_context = __import__("ssl").create_default_context(__import__("ssl").Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with http_target(ssl_context=server_context) as running:
        running.bundle = str(bundle)
        yield running


def test_a_certificate_expiring_soon_is_degraded(make_monitor, tls_target, settings):
    settings.CHECKS_CA_BUNDLE = tls_target.bundle
    outcome, _ = check_once(make_monitor, url=tls_target.base + "/")
    assert (outcome.status, outcome.error) == ("degraded", "certificate expires in 3 days")
    quiet, _ = check_once(make_monitor, url=tls_target.base + "/", certificateExpiryDays=2)
    assert (quiet.status, quiet.error) == ("operational", None)
    never, _ = check_once(make_monitor, url=tls_target.base + "/", certificateExpiryDays=None)
    assert never.status == "operational"


def test_a_certificate_nobody_vouches_for_is_down(make_monitor, tls_target):
    outcome, _ = check_once(make_monitor, url=tls_target.base + "/")
    assert outcome.status == "down"
    assert outcome.error.startswith("TLS certificate not valid")


def test_a_tcp_listener_is_operational_and_a_closed_port_is_down(make_monitor):
    with tcp_listener() as (port, accepted):
        outcome, _ = check_once(make_monitor, type="tcp", host="127.0.0.1", port=port)
    assert outcome.status == "operational"
    assert accepted["connections"] == 1
    refused, _ = check_once(make_monitor, type="tcp", host="127.0.0.1", port=closed_port())
    assert (refused.status, refused.error) == ("down", "connection refused")


def test_a_closed_http_port_is_connection_refused(make_monitor):
    outcome, _ = check_once(make_monitor, url=f"http://127.0.0.1:{closed_port()}/")
    assert (outcome.status, outcome.error) == ("down", "connection refused")
