"""Django settings, built from preau.config (file + environment). No secrets here."""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from preau import config as preau_config

try:
    CONFIG = preau_config.load()
except preau_config.ConfigError as exc:
    raise ImproperlyConfigured(f"Préau configuration: {exc}") from None

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = CONFIG["django"]["secret_key"] or "insecure-dev-only-key-debug-mode"
DEBUG = CONFIG["django"]["debug"]
ALLOWED_HOSTS = CONFIG["django"]["allowed_hosts"]

# prometheus_client reads this variable at import time: set it before anything imports it.
METRICS_MULTIPROC_DIR = CONFIG["metrics"]["multiproc_dir"]
if METRICS_MULTIPROC_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = METRICS_MULTIPROC_DIR
    os.makedirs(METRICS_MULTIPROC_DIR, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "preau.core",
    # The ENT's services: what they share (preau.ent), then one app per service (app README).
    "preau.ent",
    "preau.timetable",
    "preau.attendance",
    "preau.grades",
    "preau.logbook",
    "preau.documents",
    "preau.messaging",
    "preau.news",
    "preau.spaces",
    # Log in through ÉduConnect and the académie's agents IdP (SAML 2.0 service provider).
    "preau.federation",
    # Préau as the GAR's SAML 2.0 identity provider, the médiacentre, the GAR directory export.
    "preau.gar",
    # Second factor of ADMC and ADML: TOTP and recovery codes (preau.twofactor).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "preau.twofactor",
    # Background jobs: the queue in PostgreSQL (procrastinate) and Préau's jobs (preau.jobs).
    "procrastinate.contrib.django",
    "preau.jobs",
    # Préau as a CAS 3.0 server of the establishments' partner services (docs/federation.md).
    "preau.cas",
    # The platform operators' console and the usage statistics (preau.console).
    "preau.console",
]

MIDDLEWARE = [
    "preau.core.middleware.MetricsMiddleware",
    "preau.core.middleware.LoadSheddingMiddleware",
    "preau.core.middleware.RejectNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "preau.core.middleware.MaintenanceMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "preau.core.authentication.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "preau.core.tenancy.TenantMiddleware",
    # After the tenant's process_view (user and membership read): no query for pupils' pages.
    "preau.twofactor.policy.SecondFactorMiddleware",
    "preau.ent.cache.UserCacheMiddleware",
    # A visit per page of an establishment, for the statistics: never blocks nor fails a page.
    "preau.console.usage.UsageMiddleware",
]

ROOT_URLCONF = "preau.urls"
WSGI_APPLICATION = "preau.wsgi.application"

# Jinja2 through Django's backend (preau.core.jinja: why, and what differs from Django's
# template language); templates in each app's jinja2/ directory, compiled once per process.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "environment": "preau.core.jinja.environment",
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "preau.ent.context.navigation",
                "preau.core.jinja.locale_of_render",
                "preau.core.jinja.csrf_once",
            ],
        },
    },
]
# A method used in a template without () is an error (the test suite turns it on).
PREAU_TEMPLATES_STRICT = False

_db = CONFIG["database"]
# Migrations connect as the schema owner (preau.config read its owner.toml, or failed).
_as_owner = os.environ.get("PREAU_DB_AS_OWNER") == "1"
DATABASES = {
    "default": {
        # Django's PostgreSQL backend, health checks skipped for connections used < 1 s ago.
        "ENGINE": "preau.core.db",
        "HOST": _db["host"],
        "PORT": _db["port"],
        "NAME": _db["name"],
        "USER": CONFIG["database_owner"]["user"] if _as_owner else _db["user"],
        "PASSWORD": CONFIG["database_owner"]["password"] if _as_owner else _db["password"],
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        # Prepared statements only where the code asks for them (preau.core.prepared: PostgreSQL
        # plans those queries once per connection); Django's own queries keep client-side binding,
        # which never prepares. (Django's default, None, would turn them off altogether.) Their
        # generic plan always: they are indexed lookups by establishment and user, where the
        # custom plans PostgreSQL would otherwise redo for array parameters buy nothing.
        "OPTIONS": {
            "sslmode": _db["sslmode"],
            **({"sslrootcert": _db["sslrootcert"]} if _db["sslrootcert"] else {}),
            # The app never presents a client certificate (scram passwords): libpq must not look
            # for one in the home directory. On Debian 13, /nonexistent (the migrations
            # account's home) exists, mtail's and mode 0700: libpq's "Permission denied" on
            # ~/.postgresql/postgresql.crt failed every connection. (libpq 16+: psycopg-binary's)
            "sslcertmode": "disable",
            "connect_timeout": 3,
            # Several hosts (the db hosts under Patroni, docs/scaling.md): libpq tries them in
            # turn and keeps the one that takes writes, so after a failover the next connection
            # finds the new primary by itself (CONN_HEALTH_CHECKS drops the dead one first).
            **({"target_session_attrs": "read-write"} if "," in _db["host"] else {}),
            "prepare_threshold": 2**31 - 1,
            # plan_cache_mode: above. client_connection_check_interval: during a query, the
            # server checks every 5 s that its client is still there, and ends the session
            # when it is gone. PostgreSQL otherwise reads from a client only between queries:
            # a job's child killed at its deadline (preau.jobs.isolation) or a web worker
            # killed by gunicorn's timeout left its query running to the end, with its locks.
            "options": "-c plan_cache_mode=force_generic_plan"
            " -c client_connection_check_interval=5s",
        },
    }
}

AUTH_USER_MODEL = "core.User"
# Argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane): preau.core.hashers.
PASSWORD_HASHERS = [
    "preau.core.hashers.OwaspArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# CNIL deliberation 2022-100: 12 characters of 4 kinds for adults, 8 of 3 kinds for pupils
# (whose login is throttled), common passwords refused, French ones too (preau.core.passwords).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "preau.core.passwords.ProfilePasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "preau.core.passwords.FrenchCommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
# Second factor (preau.twofactor): wrong codes delay the next try (1, 2, 4… s per device).
OTP_TOTP_ISSUER = "Préau"
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1

# Sessions in the database: shared by every app server and gunicorn worker.
SESSION_ENGINE = "preau.core.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
CSRF_FAILURE_VIEW = "preau.core.errors.csrf_failure"  # a French page, with a way back
SESSION_COOKIE_AGE = 8 * 3600
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# TLS, the HTTP→HTTPS redirect and HSTS are the nginx load balancer's job (role nginx).
# So are the other security headers (Content-Security-Policy, X-Content-Type-Options,
# X-Frame-Options, Referrer-Policy, Cross-Origin-Opener-Policy): nginx also serves the waiting
# page and the cached static files, which Django never sees, and each header must be sent once
# with one value (roles/nginx/templates/preau-headers.conf.j2). Django sends none of them.
SECURE_CONTENT_TYPE_NOSNIFF = False
SECURE_REFERRER_POLICY = None
SECURE_CROSS_ORIGIN_OPENER_POLICY = None
SILENCED_SYSTEM_CHECKS = [
    "security.W002",
    "security.W004",
    "security.W006",
    "security.W008",
    "security.W022",
]

# Login throttling (preau.core.throttle: failures counted in core_loginattempt, so across servers
# and workers; a refused attempt gets 429 + Retry-After). Per account: 5 failures free since its
# last success, then 2 s doubling up to 30 s (never a lockout). Per address (IPv6: per /64): 20
# failures an hour free, one more per account that logged in from it (a collège behind one NAT),
# then 1 s doubling up to an hour.
LOGIN_THROTTLE = {
    "window_seconds": 15 * 60,
    "account_free_failures": 5,
    "account_delay_seconds": 2,
    "account_max_delay_seconds": 30,
    "known_address_days": 30,
    "address_window_seconds": 3600,
    "address_free_failures": 20,
    "address_free_per_user": 1,
    "address_delay_seconds": 1,
    "address_max_delay_seconds": 300,
}
ACTIVATION_CODE_DAYS = 30
# "Mot de passe oublié" and address confirmations (preau.core.throttle.request_wait): e-mails
# asked per address or login typed, per account, and per client address, within the window.
REQUEST_THROTTLE = {"window_seconds": 3600, "per_key": 3, "per_address": 20}
# A "Mot de passe oublié" link works once (Django's token: the password's hash is part of it)
# and for this long; an address confirmation link for ACCOUNT_EMAIL_CONFIRMATION_DAYS.
PASSWORD_RESET_TIMEOUT = 2 * 3600
ACCOUNT_EMAIL_CONFIRMATION_DAYS = 3

LANGUAGE_CODE = "fr-fr"
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = CONFIG["storage"]["static_root"]
MEDIA_ROOT = CONFIG["storage"]["media_root"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Uploads (documents, homework, attachments) are stored in PostgreSQL (preau.ent.files); the
# load balancer's client_max_body_size should be a little above this. [uploads] and [antivirus]
# of the configuration: limits and quotas in bytes, clamd's socket (empty = no scan).
_uploads, _MB = CONFIG["uploads"], 1024 * 1024
PREAU_UPLOAD_MAX_BYTES = _uploads["max_file_mb"] * _MB
PREAU_UPLOAD_USER_QUOTA_BYTES = _uploads["user_quota_mb"] * _MB
PREAU_UPLOAD_ESTABLISHMENT_QUOTA_BYTES = _uploads["establishment_quota_mb"] * _MB
PREAU_UPLOAD_ORPHAN_GRACE_HOURS = _uploads["orphan_grace_hours"]
PREAU_CLAMD_SOCKET = CONFIG["antivirus"]["clamd_socket"]
PREAU_CLAMD_TIMEOUT_SECONDS = CONFIG["antivirus"]["timeout_seconds"]

# [aaf]: the drop directory of the AAF's daily deltas and their guard (preau.core.delta).
PREAU_AAF_DROP_DIR = CONFIG["aaf"]["drop_dir"]
PREAU_AAF_MAX_REMOVAL_PERCENT = CONFIG["aaf"]["max_removal_percent"]
# [federation]: Préau as a SAML 2.0 service provider (preau.federation, docs/federation.md).
PREAU_FEDERATION = dict(CONFIG["federation"])

# [migrations]: the timeouts and retries of `migrate_phase` (preau.core.migration_locks).
PREAU_MIGRATIONS = dict(CONFIG["migrations"])

# [security] of the configuration (preau.config): see docs/security.md.
PREAU_ENVIRONMENT = CONFIG["security"]["environment"]
PREAU_TRUSTED_PROXIES = CONFIG["security"]["trusted_proxies"]
PREAU_MONITORING_NETWORKS = CONFIG["security"]["monitoring_networks"]
# Quiet hours for notifications (ministry guidance, docs/domain.md); a head of establishment may
# adjust them (Establishment.settings["quiet_hours"]).
# Short-lived per-user page parts (preau.ent.cache: the dashboard's panels). Each worker's own
# memory: nothing in it is authoritative, entries live PREAU_USER_CACHE_SECONDS at most (what other
# people change shows up within that delay; the user's own writes invalidate at once), keys hold
# the establishment, the user and the session. 0 = off.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "preau",
        "TIMEOUT": 30,
        "OPTIONS": {"MAX_ENTRIES": 5000},
    }
}
PREAU_USER_CACHE_SECONDS = 30
# Load shedding: a request queued longer than this (X-Request-Start set by the load balancer)
# gets a fast "please wait" page instead of adding to the overload (0 = off).
PREAU_MAX_QUEUE_SECONDS = 1.0
# The platform row (global maintenance, school year) is re-read at most this often per worker.
PREAU_PLATFORM_CACHE_SECONDS = 2
PREAU_QUIET_HOURS = {"start": "20:00", "end": "07:00", "weekend": True}

# Notifications by e-mail ([email] in preau.toml; off by default). When enabled, establishments
# whose direction opted in also get their delivered notifications by e-mail (preau.ent.notify).
_email = CONFIG["email"]
PREAU_EMAIL_NOTIFICATIONS = _email["enabled"]
PREAU_SITE_URL = _email["site_url"].rstrip("/")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if _email["enabled"]
    else "django.core.mail.backends.dummy.EmailBackend"
)
EMAIL_HOST = _email["host"]
EMAIL_PORT = _email["port"]
EMAIL_HOST_USER = _email["user"]
EMAIL_HOST_PASSWORD = _email["password"]
EMAIL_USE_TLS = _email["starttls"]
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = _email["from_address"]

# The job queue's tasks are all in preau.jobs.tasks (no autodiscovery of other modules).
PROCRASTINATE_AUTODISCOVER_MODULE_NAME = ""
PROCRASTINATE_IMPORT_PATHS = ["preau.jobs.tasks"]
# A worker without a heartbeat (every 10 s) for this long is dead: its running job runs again.
PREAU_JOBS_STALLED_AFTER_SECONDS = CONFIG["jobs"]["stalled_after_seconds"]
PREAU_JOBS_HEAVY_MEMORY_MB = CONFIG["jobs"]["heavy_memory_mb"]
PREAU_JOBS_HEAVY_TIMEOUT_SECONDS = CONFIG["jobs"]["heavy_timeout_seconds"]

RETENTION = {
    "disable_after_days": CONFIG["retention"]["disable_after_days"],
    "delete_after_days": CONFIG["retention"]["delete_after_days"],
    "messages_days": CONFIG["retention"]["messages_days"],
    "closed_purge_after_days": CONFIG["retention"]["closed_purge_after_days"],
    "usage_raw_days": CONFIG["retention"]["usage_raw_days"],
    "usage_stats_months": CONFIG["retention"]["usage_stats_months"],
    "timetable_imports_days": CONFIG["retention"]["timetable_imports_days"],
}
# The visits of the statistics (preau.console.usage): each worker writes what it saw at most
# every this many seconds, or once it holds this many distinct rows.
PREAU_USAGE_FLUSH_SECONDS = 10
PREAU_USAGE_BUFFER_MAX = 1000
# Where `establishment close` writes a closed establishment's archive bundle (preau.core.closure).
PREAU_ARCHIVE_ROOT = CONFIG["storage"]["archive_root"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "preau.logs.JsonFormatter"}},
    # The web app logs to stdout (journald); management commands log to stderr so that their
    # stdout carries only the report / --json document (preau.manage sets PREAU_LOG_STREAM).
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": f"ext://sys.{os.environ.get('PREAU_LOG_STREAM', 'stdout')}",
            "formatter": "json",
        }
    },
    "root": {"handlers": ["stdout"], "level": "INFO"},
    "loggers": {
        # Requests are logged once by MetricsMiddleware; avoid Django's duplicate lines.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        # The job queue: its tasks and schedules registered at each start, its deferrals (each
        # job's run is logged by procrastinate.worker).
        "procrastinate.blueprints": {"level": "WARNING"},
        "procrastinate.periodic": {"level": "WARNING"},
        "procrastinate.jobs": {"level": "WARNING"},
        # pysaml2 and its XML schema library say at INFO what they load and parse (a line per
        # login); their warnings and errors stay. Préau's own lines: preau.audit.
        "saml2": {"level": "WARNING"},
        "xmlschema": {"level": "WARNING"},
    },
}
