"""WSGI entry point (gunicorn preau.wsgi)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "preau.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
