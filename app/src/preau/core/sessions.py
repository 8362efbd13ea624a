"""Sessions in PostgreSQL (shared by every app server), read together with their user.

Django reads the session row, then the user row: two queries on every page. Here the session
row also carries the user's id (`django_session.user_id`, a nullable column added by
core.0002; it is written whenever the session is saved), so one query with a join returns
both (compiled once: preau.core.prepared). `AuthenticationMiddleware` then uses that user when the session verifies exactly as
django.contrib.auth.get_user would (ModelBackend, active account, session hash of the current
password); any other case (no preloaded user, hash mismatch, fallback secret, inactive
account) goes through Django's own code, which queries and decides as usual.

Rolling releases: the previous release ignores the column; the sessions it creates have
user_id NULL and simply take Django's two-query path.
"""
import datetime as dt
import logging

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.core.exceptions import SuspiciousOperation
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject

from preau.core.prepared import PreparedQuery

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _session_with_user(key, now):
    from preau.core.models import UserSession

    return UserSession.objects.select_related("user").filter(session_key=key, expire_date__gt=now)[:1]


# Every page: compiled once (preau.core.prepared).
SESSION_WITH_USER = PreparedQuery(_session_with_user, key=str, now=dt.datetime)


class SessionStore(DbSessionStore):
    preloaded_user = None

    @classmethod
    def get_model_class(cls):
        from preau.core.models import UserSession

        return UserSession

    def _get_session_from_db(self):
        self.preloaded_user = None
        try:
            row = SESSION_WITH_USER.first(key=self.session_key, now=timezone.now())
        except SuspiciousOperation as exc:  # as Django's own store does
            logging.getLogger(f"django.security.{exc.__class__.__name__}").warning(str(exc))
            row = None
        if row is None:
            self._session_key = None
            return None
        self.preloaded_user = row.user if row.user_id is not None else None
        return row

    @property
    def loaded(self) -> bool:
        """Whether the session's data has been read (or set) in this request."""
        return hasattr(self, "_session_cache")

    def load_from(self, session_data: str, user) -> None:
        """The session's row as another query brought it (preau.core.tenancy reads it with the
        membership): its data, and its user, who authenticates only as get_user() decides."""
        self._session_cache = self.decode(session_data)
        self.preloaded_user = user

    def create_model_instance(self, data):
        instance = super().create_model_instance(data)
        user_id = data.get(SESSION_KEY)
        instance.user_id = int(user_id) if user_id and str(user_id).isdigit() else None
        return instance


def get_user(request):
    """django.contrib.auth.get_user without the user query when the session brought the user."""
    session = request.session
    user_id = session.get(SESSION_KEY)  # loads the session (and its user)
    user = getattr(session, "preloaded_user", None)
    if (user is not None and user_id is not None and str(user.pk) == str(user_id)
            and session.get(BACKEND_SESSION_KEY) == MODEL_BACKEND
            and MODEL_BACKEND in settings.AUTHENTICATION_BACKENDS
            and user.is_active):
        session_hash = session.get(HASH_SESSION_KEY)
        if session_hash and constant_time_compare(session_hash, user.get_session_auth_hash()):
            return user
    return auth.get_user(request)


def _cached_user(request):
    if not hasattr(request, "_cached_user"):
        request._cached_user = get_user(request)
    return request._cached_user


class AuthenticationMiddleware(DjangoAuthenticationMiddleware):
    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _cached_user(request))


def resolve_user(request) -> None:
    """request.user becomes the user object itself instead of Django's lazy proxy, on pages
    that need the user anyway (an establishment's): a page reads the user's attributes dozens
    of times, and each read through the proxy costs two Python calls and a caught
    AttributeError."""
    if isinstance(request.user, SimpleLazyObject):
        request.user = _cached_user(request)
