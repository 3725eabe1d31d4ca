"""Kamustatus settings, read from the environment only.

Every knob is an environment variable; see the configuration table in docs/operations.md.
"""

import ipaddress
import os
from pathlib import Path

import dj_database_url
from csp.constants import NONCE
from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name, default):
    """A strict boolean: 1/0/true/false (any case) and nothing yes-ish."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    raise ImproperlyConfigured(f"{name} must be 1, 0, true or false, not {value!r}")


def envint(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def envfloat(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number > 0:
        raise ImproperlyConfigured(f"{name} must be a positive number of seconds, not {value!r}")
    return number


def envlist(name, default):
    value = os.environ.get(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = envbool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set in the environment (or run with DEBUG=1 for development)."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105
elif not DEBUG and (
    len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH
    or len(set(SECRET_KEY)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
    or SECRET_KEY.startswith(SECRET_KEY_INSECURE_PREFIX)
):
    # The bar of `manage.py check --deploy`, enforced: a short key signs
    # sessions and CSRF tokens anyone could forge.
    raise ImproperlyConfigured(
        f"SECRET_KEY is too weak for production: use at least {SECRET_KEY_MIN_LENGTH} "
        f"characters, {SECRET_KEY_MIN_UNIQUE_CHARACTERS} of them different, not starting "
        f"with {SECRET_KEY_INSECURE_PREFIX!r} (e.g. python -c 'import secrets; "
        f"print(secrets.token_urlsafe(50))')."
    )

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "incidents.admin_site.OperatorsAdminConfig",  # django.contrib.admin, our site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
    "csp",
    "incidents",
    "incidents.alerts",
    "incidents.subscribers",
    "incidents.appearance",
    "incidents.uptime",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Heartbeat pings (/ping/<token>): answered here, before sessions and CSRF.
    "incidents.checks.pings.PingMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # The visitor's language for the public pages (cheap: a cookie, a header),
    # before the stored status page, whose copies are kept per language.
    "incidents.languages.LanguageMiddleware",
    # The status page from the shared cache before sessions & co, and its last
    # good copy for outages (see the module).
    "incidents.cache.middleware.StatusPageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "statuspage.urls"
WSGI_APPLICATION = "statuspage.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                # The page's name, logo and links for pages rendered with a
                # request (404, 500); stored pages are given them directly.
                "incidents.appearance.page.context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# SQLite file by default; PostgreSQL (psycopg 3) through DATABASE_URL.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=envint("CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several gunicorn workers write to one file: WAL lets readers run beside a
    # writer, the busy timeout and IMMEDIATE transactions make writers queue up
    # instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            "PRAGMA busy_timeout=30000;"
            "PRAGMA foreign_keys=ON;"
        ),
    }
else:
    # Django's backend, with a failed connection attempt not repeated at once
    # (statuspage/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "statuspage.postgresql"
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options.setdefault("connect_timeout", envint("DATABASE_CONNECT_TIMEOUT", 5))
    # A query that hangs (a lock never released, a server gone quiet) is
    # cancelled by PostgreSQL after this many seconds (0: never) and answered
    # 503 rather than left to gunicorn's worker timeout.
    statement_timeout = envint("DATABASE_STATEMENT_TIMEOUT", 5)
    if statement_timeout > 0:
        options["options"] = (
            options.get("options", "") + f" -c statement_timeout={statement_timeout * 1000}"
        ).strip()
    # The one statement every stored answer costs (the cache read,
    # incidents/cache/database.py) is sent with server-side binding and, from
    # its second time on a connection, as a prepared statement: PostgreSQL
    # parses and plans it once. Django's own queries bind client-side and are
    # never prepared. DATABASE_PREPARED_STATEMENTS=0 turns it off (a pooler in
    # transaction mode older than PgBouncer 1.21).
    options.setdefault(
        "prepare_threshold", 1 if envbool("DATABASE_PREPARED_STATEMENTS", True) else None
    )
    # TCP keepalives: a connection whose peer vanished without a word (a cut
    # network, a failed-over host) is noticed within about a minute.
    options.setdefault("keepalives", 1)
    options.setdefault("keepalives_idle", envint("DATABASE_KEEPALIVES_IDLE", 30))
    options.setdefault("keepalives_interval", 10)
    options.setdefault("keepalives_count", 3)
    # One pool of connections per process, shared by its threads. gunicorn's
    # gthread workers run up to WEB_THREADS requests at once; with a connection
    # kept per thread (CONN_MAX_AGE) two workers under 150 clients opened more
    # than PostgreSQL's 100 connections ("sorry, too many clients already") and
    # the page fell back to its outage copy. With the pool a host opens at most
    # workers x DATABASE_POOL_SIZE connections; a request that finds them all
    # busy waits up to DATABASE_POOL_TIMEOUT seconds (2: while the database is
    # away that is how long a request waits before the outage path answers; the
    # queries themselves take milliseconds). DATABASE_POOL_SIZE=0
    # turns the pool off (a connection per thread, kept CONN_MAX_AGE seconds),
    # e.g. behind PgBouncer.
    # Off unless asked for: the test suite's threads (and any code that opens a
    # connection in a short-lived thread) would leak pooled connections.
    pool_size = envint("DATABASE_POOL_SIZE", 0)
    if pool_size > 0:
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        options["pool"] = {
            "min_size": 1,
            "max_size": pool_size,
            "timeout": envint("DATABASE_POOL_TIMEOUT", 2),
        }
        # (CONN_HEALTH_CHECKS: the pool checks a connection before handing it out.)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------
# The rendered status page is shared between processes and hosts, so the cache
# must be too: Redis when REDIS_URL is set, otherwise a table in the database.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            # One client and connection pool per process (see the module).
            "BACKEND": "incidents.cache.redis.SharedRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "kamustatus"),
            # Every entry expires (each face sets its own timeout; a day otherwise).
            "TIMEOUT": 24 * 60 * 60,
            # A Redis that hangs costs a request at most these (seconds), never
            # gunicorn's worker timeout: the page is then rendered without it.
            "OPTIONS": {
                "socket_connect_timeout": envfloat("REDIS_CONNECT_TIMEOUT", 0.5),
                "socket_timeout": envfloat("REDIS_SOCKET_TIMEOUT", 1.0),
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "kamustatus_cache",
            "TIMEOUT": 24 * 60 * 60,
            "OPTIONS": {"MAX_ENTRIES": 10000, "CULL_FREQUENCY": 4},
        }
    }

# --- Background work ------------------------------------------------------
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
    }
}

# --- Alerts ---------------------------------------------------------------
# Default channels besides those set in the admin; docs/alerts.md.
ALERT_EMAILS = envlist("ALERT_EMAILS", [])
ALERT_WEBHOOK_URL = os.environ.get("ALERT_WEBHOOK_URL", "")
ALERT_WEBHOOK_SECRET = os.environ.get("ALERT_WEBHOOK_SECRET", "")
if ALERT_WEBHOOK_URL and not ALERT_WEBHOOK_SECRET:
    raise ImproperlyConfigured("ALERT_WEBHOOK_URL needs ALERT_WEBHOOK_SECRET to sign requests.")
ALERT_WEBHOOK_TIMEOUT = max(1, envint("ALERT_WEBHOOK_TIMEOUT", 10))
# A flapping monitor: at most one alert per monitor and channel this often;
# the changes in between go out together, the last state always (0: off).
ALERT_COALESCE_SECONDS = max(0, envint("ALERT_COALESCE_SECONDS", 60))
# Seconds before the 2nd, 3rd, … attempt; one more attempt than delays.
try:
    ALERT_RETRY_DELAYS = [float(d) for d in envlist("ALERT_RETRY_DELAYS", ["5", "30", "120"])]
except ValueError:
    raise ImproperlyConfigured("ALERT_RETRY_DELAYS must be comma-separated seconds") from None

# --- Checks ---------------------------------------------------------------
# Monitors that watch by themselves (README.md "Checks"). Targets on loopback,
# private, link-local … addresses are refused unless this is set (internal
# services); CHECKS_CA_BUNDLE is a PEM file of roots to trust instead of the
# public ones (an internal CA).
CHECKS_ALLOW_PRIVATE = envbool("CHECKS_ALLOW_PRIVATE", False)
CHECKS_CA_BUNDLE = os.environ.get("CHECKS_CA_BUNDLE", "")
# Every result is kept this many days, then only hourly aggregates (a year).
CHECK_RESULTS_DAYS = max(1, envint("CHECK_RESULTS_DAYS", 30))
# Pings answered per token and minute by one server process before 429.
PING_RATE_LIMIT = max(1, envint("PING_RATE_LIMIT", 60))

# --- Subscribers ----------------------------------------------------------
# Seconds before the 2nd, 3rd, … attempt at a subscriber's mail or webhook;
# the last delay repeats until SUBSCRIBER_GIVE_UP_AFTER seconds have passed.
try:
    SUBSCRIBER_RETRY_DELAYS = [
        float(d) for d in envlist("SUBSCRIBER_RETRY_DELAYS", ["10", "30", "60", "300", "900"])
    ]
except ValueError:
    raise ImproperlyConfigured("SUBSCRIBER_RETRY_DELAYS must be comma-separated seconds") from None
SUBSCRIBER_GIVE_UP_AFTER = max(1, envint("SUBSCRIBER_GIVE_UP_AFTER", 3 * 24 * 3600))
# Deliveries claimed (and mails sent over one SMTP connection) at a time, and
# the most seconds one batch may take before the rest is given back.
SUBSCRIBER_BATCH_SIZE = max(1, envint("SUBSCRIBER_BATCH_SIZE", 200))
SUBSCRIBER_BATCH_SECONDS = max(1, envint("SUBSCRIBER_BATCH_SECONDS", 120))
# Subscribe requests per client address per window (the form answers 429 after).
SUBSCRIBE_LIMIT = max(1, envint("SUBSCRIBE_LIMIT", 10))
SUBSCRIBE_WINDOW = max(1, envint("SUBSCRIBE_WINDOW", 600))
# Webhook subscribers obey the checks' address rules (CHECKS_ALLOW_PRIVATE).

# Email: printed to the console unless EMAIL_HOST names an SMTP server.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = envint("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", EMAIL_PORT == 587)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", EMAIL_PORT == 465)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set one of EMAIL_USE_TLS (STARTTLS) and EMAIL_USE_SSL, not both.")
EMAIL_TIMEOUT = max(1, envint("EMAIL_TIMEOUT", 10))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "kamustatus@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Passwords, sessions, i18n --------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The public pages speak these languages (docs/translations.md); the API and
# the admin stay in English. Each is named in its own language for the picker.
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("pt-br", "Português (Brasil)"),
    ("ja", "日本語"),
    ("fil", "Filipino"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The language picker's choice (incidents/languages.py): a year, first-party only.
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Security -------------------------------------------------------------
# Behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER=1 and the rest
# below; docs/operations.md lists the production environment.
if envbool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Form bodies (the admin) are bounded; the API refuses JSON over 64 KiB itself.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
# Failed API keys and admin sign-ins per client address before a 429 until
# the window ends (incidents/ratelimit.py).
AUTH_FAILURE_LIMIT = max(1, envint("AUTH_FAILURE_LIMIT", 10))
AUTH_FAILURE_WINDOW = max(1, envint("AUTH_FAILURE_WINDOW", 300))
# The addresses (or CIDR networks) of the proxies in front. X-Forwarded-For is
# believed only from them (incidents/ratelimit.py); by default from nobody,
# so a client reaching gunicorn directly cannot choose its own address.
try:
    TRUSTED_PROXIES = [
        ipaddress.ip_network(item, strict=False) for item in envlist("TRUSTED_PROXIES", [])
    ]
except ValueError as exc:
    raise ImproperlyConfigured(
        "TRUSTED_PROXIES must be a comma-separated list of the proxies' addresses or networks "
        f"(e.g. 127.0.0.1,10.0.0.0/8): {exc}"
    ) from None

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        # NONCE is django-csp's sentinel: a per-request nonce where a page asks
        # for one (the public pages need none: they have no inline script).
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Logging --------------------------------------------------------------
# Requests are logged by gunicorn; nothing here logs headers, so API keys never
# reach a log.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # A line per check request would drown the worker's own lines.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# --- Kamustatus -----------------------------------------------------------
# PAGE_NAME, PAGE_URL, PAGE_TIME_ZONE and PAGE_LANGUAGE are the defaults of a
# fresh install: what the admin's page settings leave empty comes from here
# (incidents/appearance/page.py, docs/page-settings.md).
KAMUSTATUS_PAGE_NAME = os.environ.get("PAGE_NAME", "Kamustatus")
# The page's public URL (incidents/site.py): PAGE_URL when set, else the host a
# visitor used, else (mails and webhooks from the worker) the local address
# `make run` serves on.
KAMUSTATUS_PAGE_URL = os.environ.get("PAGE_URL", "").strip()
KAMUSTATUS_LOCAL_URL = f"http://127.0.0.1:{envint('PORT', 8000)}"
KAMUSTATUS_TIME_ZONE = os.environ.get("PAGE_TIME_ZONE", "Etc/UTC")
# The page's language for visitors whose browser asks for none it offers.
KAMUSTATUS_PAGE_LANGUAGE = (
    os.environ.get("PAGE_LANGUAGE", "").strip().lower().replace("_", "-") or "en"
)
if KAMUSTATUS_PAGE_LANGUAGE not in {code for code, _name in LANGUAGES}:
    raise ImproperlyConfigured(
        f"PAGE_LANGUAGE must be one of {', '.join(code for code, _name in LANGUAGES)}, "
        f"not {KAMUSTATUS_PAGE_LANGUAGE!r}"
    )
# The status page's last good rendering, served while the database is
# unreachable (incidents/cache/outage.py); local to each host.
KAMUSTATUS_LAST_GOOD_DIR = Path(os.environ.get("LAST_GOOD_DIR", BASE_DIR / "var" / "last-good"))
# How often the status page re-fetches its changing part (htmx), in seconds.
KAMUSTATUS_PAGE_REFRESH_SECONDS = max(1, envint("PAGE_REFRESH_SECONDS", 30))
# How old the uptime numbers a stored page shows may get while they move with
# the clock (a monitor down, downtime in the days shown), in seconds.
KAMUSTATUS_UPTIME_REFRESH_SECONDS = max(1, envint("UPTIME_REFRESH_SECONDS", 60))
