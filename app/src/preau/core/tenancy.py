"""Tenant isolation: the single mechanism that decides who reaches an establishment.

Every establishment URL is `/e/<uai>/...`. TenantMiddleware resolves the UAI (following merge
aliases), checks that the user is a current member (or a platform admin) and sets
`request.establishment` / `request.membership`. Views then read data only through
`Model.objects.for_request(request)` (TenantQuerySet), which refuses to run without it.
"""

import datetime as dt
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Subquery
from django.http import Http404, HttpResponseRedirect
from django.utils import timezone

from preau.core.authentication import resolve_user
from preau.core.errors import maintenance_response
from preau.core.models import Establishment, EstablishmentAlias, Membership
from preau.core.prepared import PreparedQuery
from preau.core.sessions import UserSession
from preau.core.uai import normalize

# Extra per-member values computed in the membership query itself (name → expression taking the
# user), registered by the service apps at start-up: e.g. the unread notifications count of the
# navigation rides along with the query every page makes anyway instead of costing its own.
MEMBERSHIP_ANNOTATIONS: dict = {}


def _member_of_active(user_id, est):
    return (
        Membership.objects.current()
        .select_related("establishment")
        .filter(
            user_id=user_id,
            establishment__uai=est,
            establishment__status=Establishment.Status.ACTIVE,
        )
        .annotate(**{name: make() for name, make in MEMBERSHIP_ANNOTATIONS.items()})
        .order_by("pk")[:1]
    )


# The hot path of every establishment page, compiled once (preau.core.prepared).
MEMBER_OF_ACTIVE = PreparedQuery(_member_of_active, est=str, user_id=int)


def _member_by_session(key, now, est):
    session = UserSession.objects.filter(session_key=key, expire_date__gt=now)
    return (
        _member_of_active(Subquery(session.values("user_id")[:1]), est)
        .select_related("user")
        .annotate(session_data=Subquery(session.values("session_data")[:1]))
    )


# The same, when the page has not read its session yet: the session's row, its user and the
# membership in one query instead of two (each query costs about as much in round trip and
# PostgreSQL statement overhead as it does in work).
MEMBER_BY_SESSION = PreparedQuery(_member_by_session, est=str, key=str, now=dt.datetime)


def _member_with_session(request, uai):
    """The membership in `uai` of the session's user, the session read along with it; None
    when the session was already read, or has no user who is a current member there (the
    page then reads the session as usual)."""
    session = getattr(request, "session", None)
    if session is None or session.session_key is None or getattr(session, "loaded", True):
        return None
    membership = MEMBER_BY_SESSION.first(est=uai, key=session.session_key, now=timezone.now())
    if membership is not None:
        session.load_from(membership.session_data, membership.user)
    return membership


class TenantMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.establishment = None
        request.membership = None
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if "uai" not in view_kwargs:
            return None
        uai = normalize(view_kwargs["uai"])
        # Hot path: a member of an active establishment, found with the session in one query,
        # or in one query once the session is read. The session's user is the page's user
        # only if get_user() accepts it (session hash, active account): checked here.
        preloaded = _member_with_session(request, uai)
        resolve_user(request)
        if request.user.is_authenticated and not request.user.is_platform_admin:
            membership = (
                preloaded
                if preloaded is not None and preloaded.user_id == request.user.pk
                else MEMBER_OF_ACTIVE.first(est=uai, user_id=request.user.pk)
            )
            if membership is not None:
                if membership.establishment.maintenance:
                    return maintenance_response()
                request.establishment, request.membership = membership.establishment, membership
                return None
        return _resolve(request, uai, view_kwargs["uai"])


def _resolve(request, uai, written):
    """The other cases, off the hot path: a merged establishment's alias (redirect), anonymous
    visitors (login), platform admins, unknown or inactive establishments and non-members (404),
    maintenance. `written` is the UAI as the URL writes it."""
    establishment = Establishment.objects.filter(uai=uai).first()
    if establishment is not None and establishment.status == Establishment.Status.MERGED:
        establishment = None
    if establishment is None:
        alias = EstablishmentAlias.objects.filter(uai=uai).select_related("establishment").first()
        if alias is not None:
            return HttpResponseRedirect(
                request.get_full_path().replace(
                    f"/e/{written}/", f"/e/{alias.establishment.uai}/", 1
                )
            )
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if establishment is None:
        raise Http404("établissement inconnu")
    membership = None
    if not request.user.is_platform_admin:
        membership = (
            Membership.objects.current()
            .filter(user=request.user, establishment=establishment)
            .first()
        )
        # 404 rather than 403: do not reveal which establishments exist.
        if membership is None or not establishment.is_active:
            raise Http404("établissement inconnu")
        if establishment.maintenance:
            return maintenance_response()
    request.establishment = establishment
    request.membership = membership
    return None


def local_admin_required(view):
    """Only the establishment's local admins (ADML) and platform admins (ADMC)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.establishment is None:
            raise PermissionDenied
        if not (
            request.user.is_platform_admin
            or (request.membership is not None and request.membership.is_local_admin)
        ):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper
