"""The page's user: the one its session brought along (preau.core.sessions), when the session
verifies exactly as django.contrib.auth.get_user would (ModelBackend, active account, session
hash of the current password); any other case (no preloaded user, hash mismatch, fallback
secret, inactive account) goes through Django's own code, which queries and decides as usual."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.middleware import (
    AuthenticationMiddleware as DjangoAuthenticationMiddleware,
)
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def get_user(request: HttpRequest) -> Any:
    """django.contrib.auth.get_user without the user query when the session brought the user."""
    session = request.session
    user_id = session.get(SESSION_KEY)  # loads the session (and its user)
    user = getattr(session, "preloaded_user", None)
    if (
        user is not None
        and user_id is not None
        and str(user.pk) == str(user_id)
        and session.get(BACKEND_SESSION_KEY) == MODEL_BACKEND
        and MODEL_BACKEND in settings.AUTHENTICATION_BACKENDS
        and user.is_active
    ):
        session_hash = session.get(HASH_SESSION_KEY)
        if session_hash and constant_time_compare(session_hash, user.get_session_auth_hash()):
            return user
    return auth.get_user(request)


def _cached_user(request: Any) -> Any:
    if not hasattr(request, "_cached_user"):
        request._cached_user = get_user(request)
    return request._cached_user


class AuthenticationMiddleware(DjangoAuthenticationMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _cached_user(request))  # type: ignore[assignment]


def resolve_user(request: Any) -> None:
    """request.user becomes the user object itself instead of Django's lazy proxy, on pages
    that need the user anyway (an establishment's): a page reads the user's attributes dozens
    of times, and each read through the proxy costs two Python calls and a caught
    AttributeError."""
    if isinstance(request.user, SimpleLazyObject):
        request.user = _cached_user(request)
