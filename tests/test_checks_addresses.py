"""The address rules: checks never reach loopback, private, link-local,
multicast or unspecified addresses — written as literals, resolved from a
name (at connect time: DNS rebinding), or reached through a redirect —
unless the operator sets CHECKS_ALLOW_PRIVATE=1.

No outside traffic: names resolve through a stubbed resolver, and a loopback
server stands in for a public site through the policy's test hook
(CHECKS_PUBLIC_FOR_TESTS)."""

import ipaddress

import pytest

from incidents.checks import addresses
from incidents.checks.scheduler import run_checks_now
from incidents.models import Monitor
from tests.check_peers import http_target

pytestmark = [pytest.mark.django_db]

REFUSED = addresses.HOST_REFUSAL


@pytest.fixture
def target():
    with http_target() as running:
        yield running


@pytest.fixture
def names(monkeypatch):
    """Names resolve to what the test says, through the policy's resolver."""
    table = {}

    async def resolve(host, port):
        if host not in table:
            raise OSError("no such name")
        return table[host]

    monkeypatch.setattr(addresses, "resolver", resolve)
    return table


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.9.9.9:8080/health",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[fc00::1]/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://localhost:8000/",
        "http://LOCALHOST./",
        "https://app.localhost/",
    ],
)
def test_private_http_targets_are_refused_when_written(api, url):
    body = {"name": "Internal", "check": {"type": "http", "url": url}}
    response = api("POST", "/api/monitors", body)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"check.url": REFUSED}
    assert not Monitor.objects.exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "[::1]",
                                  "0.0.0.0", "localhost"])  # fmt: skip
def test_private_tcp_hosts_are_refused_when_written(api, host):
    body = {"name": "Internal", "check": {"type": "tcp", "host": host, "port": 5432}}
    response = api("POST", "/api/monitors", body)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"check.host": REFUSED}


def test_the_operator_may_allow_private_targets(api, settings):
    settings.CHECKS_ALLOW_PRIVATE = True
    body = {"name": "Internal", "check": {"type": "http", "url": "http://10.0.0.1/"}}
    assert api("POST", "/api/monitors", body).status_code == 201


@pytest.mark.parametrize(
    ("text", "public"),
    [
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("100.64.0.1", False),  # shared address space (carrier NAT)
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("224.0.0.251", False),
        ("::1", False),
        ("::", False),
        ("fc00::1", False),
        ("fe80::1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:7f00:1::", False),  # 6to4 around 127.0.0.1
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
    ],
)
def test_which_addresses_are_public(text, public):
    assert addresses.is_public_address(ipaddress.ip_address(text)) is public


def run(make_monitor, url):
    monitor = make_monitor(check={"type": "http", "url": url, "failuresBeforeDown": 1})
    [outcome] = run_checks_now([monitor.pk])
    return outcome


def test_a_name_that_resolves_to_loopback_is_refused_at_connect_time(make_monitor, target, names):
    # Written, the name is fine; when the check connects it resolves to
    # loopback (as a rebinding DNS server would answer), and nothing is sent.
    names["status.example.com"] = ["127.0.0.1"]
    outcome = run(make_monitor, f"http://status.example.com:{target.port}/")
    assert (outcome.status, outcome.error) == ("down", "address not allowed")
    assert sum(target.hits.values()) == 0


def test_one_private_address_among_several_refuses_the_name(make_monitor, target, names):
    names["mixed.example.com"] = ["93.184.216.34", "127.0.0.1"]
    outcome = run(make_monitor, f"http://mixed.example.com:{target.port}/")
    assert outcome.error == "address not allowed"


def test_a_name_resolving_to_loopback_is_reached_when_allowed(
    make_monitor, target, names, settings
):
    settings.CHECKS_ALLOW_PRIVATE = True
    names["status.example.com"] = ["127.0.0.1"]
    outcome = run(make_monitor, f"http://status.example.com:{target.port}/")
    assert outcome.status == "operational"
    assert target.hits["/"] == 1


def test_a_name_that_does_not_resolve_fails_the_check(make_monitor, names):
    outcome = run(make_monitor, "http://nowhere.example.com/")
    assert (outcome.status, outcome.error) == ("down", "name not resolved")


@pytest.fixture
def public_site(settings, names):
    """A loopback server the policy treats as a public site at www.example.com."""
    with http_target() as site:
        settings.CHECKS_PUBLIC_FOR_TESTS = {f"127.0.0.1:{site.port}"}
        names["www.example.com"] = ["127.0.0.1"]
        site.public_url = f"http://www.example.com:{site.port}"
        yield site


def test_the_public_stand_in_is_reached(make_monitor, public_site):
    outcome = run(make_monitor, public_site.public_url + "/")
    assert outcome.status == "operational"


@pytest.mark.parametrize("where", ["literal", "name"])
def test_a_public_url_that_redirects_to_loopback_is_refused(
    make_monitor, public_site, target, names, where
):
    names["internal.example.com"] = ["127.0.0.1"]
    host = "127.0.0.1" if where == "literal" else "internal.example.com"
    public_site.redirect_to = f"http://{host}:{target.port}/"
    outcome = run(make_monitor, public_site.public_url + "/away")
    assert (outcome.status, outcome.error) == ("down", "address not allowed")
    assert public_site.hits["/away"] == 1
    assert sum(target.hits.values()) == 0  # the private server never saw a request


def test_a_tcp_check_of_a_name_resolving_to_a_private_address_is_refused(make_monitor, names):
    names["db.example.com"] = ["10.1.2.3"]
    monitor = make_monitor(check={"type": "tcp", "host": "db.example.com", "port": 5432})
    [outcome] = run_checks_now([monitor.pk])
    assert (outcome.status, outcome.error) == ("down", "address not allowed")
