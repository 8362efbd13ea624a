"""A short-lived per-user cache for expensive page parts (the dashboard's panels), and its
establishment-wide kin for what no member owns (the timetable grid's hours, the periods the
grades pages link to).

The cache is Django's default cache: each gunicorn worker's local memory (settings.CACHES). App
servers stay stateless: nothing here is authoritative, an entry lives at most
PREAU_USER_CACHE_SECONDS (30 s), then the data is read again from PostgreSQL.

- Isolation: every key holds the establishment, the user, the profile and the session, so an
  entry can only be served back to the same person in the same establishment.
- Staleness: what *other* people change (a new grade, a new message) shows up within 30 s.
  What the user changes shows up at once: any successful write of theirs in an establishment
  (a POST that does not fail) bumps a version number kept in their session (PostgreSQL, so seen
  by every worker and app server), which changes every key of that session; views that write
  on GET (reading a conversation) call invalidate() themselves.
"""

from django.conf import settings
from django.core.cache import cache
from django.utils.safestring import mark_safe

from preau.ent.access import viewer

VERSION_KEY = "_preau_cache_version"
_MISSING = object()


def user_key(request, name: str) -> str:
    session = request.session
    return ":".join(
        (
            "preau",
            name,
            str(request.establishment.pk),
            str(request.user.pk),
            viewer(request).profile,
            (session.session_key or "-")[:16],
            str(session.get(VERSION_KEY, 0)),
        )
    )


def _cached(key, compute):
    """compute() at most once per PREAU_USER_CACHE_SECONDS under key() (0: always computed)."""
    seconds = settings.PREAU_USER_CACHE_SECONDS
    if not seconds:
        return compute()
    name = key()
    value = cache.get(name, _MISSING)
    if value is _MISSING:
        value = compute()
        cache.set(name, value, seconds)
    return value


def cached_for_user(request, name: str, compute):
    """compute() at most once per PREAU_USER_CACHE_SECONDS for this user, session and establishment."""
    return _cached(lambda: user_key(request, name), compute)


def cached_for_establishment(establishment_id: int, name: str, compute):
    """compute() at most once per PREAU_USER_CACHE_SECONDS for the establishment: only for what
    is the same for all its members and personal to none (the timetable grid's hours, the
    grades pages' periods); the key
    holds the establishment, so one is never served another's."""
    return _cached(lambda: f"preau:{name}:{establishment_id}", compute)


def cached_html_for_user(request, name: str, compute) -> str:
    return mark_safe(cached_for_user(request, name, lambda: str(compute())))


def invalidate(request) -> None:
    """Forget this session's cached parts (the next page recomputes them)."""
    request.session[VERSION_KEY] = request.session.get(VERSION_KEY, 0) + 1


class UserCacheMiddleware:
    """After a user's successful write inside an establishment, their cached parts are stale."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.method not in ("GET", "HEAD", "OPTIONS")
            and response.status_code < 400
            and getattr(request, "establishment", None) is not None
            and request.user.is_authenticated
        ):
            invalidate(request)
        return response
