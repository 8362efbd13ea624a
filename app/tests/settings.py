"""Settings for the test suite: the production settings with a test config file."""

import os
import tempfile
from pathlib import Path
from typing import cast

os.environ.setdefault("PREAU_CONFIG", str(Path(__file__).with_name("preau-test.toml")))
# Exercise prometheus_client's multiprocess mode, as with several gunicorn workers.
os.environ.setdefault("PREAU_METRICS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="preau-metrics-"))
# Playwright's sync API runs an event loop in the test thread; the ORM is still used synchronously.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from preau.settings import *  # noqa: E402,F401,F403

# No collectstatic in tests: serve from the app directories.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STATIC_ROOT = tempfile.mkdtemp(prefix="preau-static-")
# Access lines would flood the test output; the JSON formatter has its own test.
cast(dict, LOGGING["loggers"])["preau.access"] = {"level": "WARNING"}  # noqa: F405
# Tests switch maintenance and school years on and off: no per-process cache of the platform row.
PREAU_PLATFORM_CACHE_SECONDS = 0
# Pages must show what other users just wrote: no per-user cache (its own tests switch it on).
PREAU_USER_CACHE_SECONDS = 0
# Methods used in templates without () are errors (preau.core.jinja).
PREAU_TEMPLATES_STRICT = True
# The flush between transactional tests DELETEs instead of TRUNCATE (tests/flushdb/base.py).
DATABASES["default"]["ENGINE"] = "tests.flushdb"  # noqa: F405
# Visits for the statistics: never written by a page the tests count the queries of (the
# console's tests flush them, or set 0 to write at each page).
PREAU_USAGE_FLUSH_SECONDS = 3600
PREAU_USAGE_BUFFER_MAX = 10**6
