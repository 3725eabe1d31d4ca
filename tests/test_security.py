"""Hardening: the production checklist, security headers on every face, and API
keys that never leak into logs or error bodies."""

import logging
import os
import secrets

import pytest

from tests.servers import manage

# The production environment behind a TLS-terminating proxy, as docs/operations.md
# documents it.
TLS_PROXY_ENV = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "status.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://status.example.com",
    "SECURE_PROXY_SSL_HEADER": "1",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "SESSION_COOKIE_SECURE": "1",
    "CSRF_COOKIE_SECURE": "1",
}


def check_deploy(**env):
    base = {k: v for k, v in os.environ.items() if k not in TLS_PROXY_ENV and k != "SECRET_KEY"}
    base.update(env)
    return manage(base, "check", "--deploy", "--fail-level", "WARNING", timeout=120, check=False)


@pytest.mark.slow
def test_production_settings_pass_the_deployment_checklist():
    result = check_deploy(**TLS_PROXY_ENV, SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    assert "WARNING" not in result.stderr


@pytest.mark.slow
def test_the_checklist_notices_what_is_missing():
    # The defaults suit `make run` over plain http; the checklist must say so.
    result = check_deploy(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012"):
        assert warning in result.stderr


def assert_hardened(response):
    csp = response.headers.get("Content-Security-Policy", "")
    # Pages allow their own origin (and no plugins); JSON answers may allow nothing.
    assert "default-src 'none'" in csp or (
        "default-src 'self'" in csp and "object-src 'none'" in csp
    )
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/", "/history/", "/admin/login/", "/api/incidents", "/api/v2/status.json"]
)
def test_every_face_carries_the_security_headers(client, path):
    response = client.get(path)
    assert response.status_code in (200, 401)
    assert_hardened(response)


@pytest.mark.django_db
def test_the_admin_pages_carry_the_policy_for_operators(admin_client):
    response = admin_client.get("/admin/incidents/incident/")
    assert response.status_code == 200
    assert_hardened(response)


@pytest.mark.django_db
def test_a_secure_proxy_gets_hsts_and_a_redirect_to_https(client, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    plain = client.get("/")
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")
    secure = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert secure.status_code == 200
    assert secure.headers["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )


@pytest.mark.django_db
def test_a_wrong_api_key_is_neither_echoed_nor_logged(client, caplog, api_key):
    _key, raw = api_key
    wrong = raw[:-4] + "zzzz"
    with caplog.at_level(logging.DEBUG):
        for sent in (wrong, raw[:12], "km_" + "x" * 300):
            response = client.get("/api/incidents", headers={"x-api-key": sent})
            assert response.status_code == 401
            assert sent not in response.content.decode()
            assert sent[3:15] not in response.content.decode()
    assert wrong not in caplog.text
    assert raw not in caplog.text


@pytest.mark.django_db
def test_a_valid_api_key_is_not_echoed_in_an_error(client, raw_key):
    response = client.post(
        "/api/incidents",
        data="{nope",
        content_type="application/json",
        headers={"x-api-key": raw_key},
    )
    assert response.status_code == 400
    assert raw_key not in response.content.decode()
