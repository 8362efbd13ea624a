"""Establishment navigation for the base template: no query of its own (the unread count comes
with the membership query of TenantMiddleware) and no URL reversing per page (the links of an
establishment and profile are built once per process)."""

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse

from preau.ent.access import viewer
from preau.ent.models import Notification

ALL = ("ELV", "TUT", "ENS", "DIR", "EVS", "ETA")
PUPIL = ("ELV", "TUT", "ENS", "DIR", "EVS")
# (label, url name, profiles)
SECTIONS = [
    ("Tableau de bord", "establishment_home", ALL),
    ("Vie scolaire", "attendance", PUPIL),
    ("Notes", "grades", PUPIL),
    ("Cahier de textes", "logbook", PUPIL),
    ("Emploi du temps", "timetable", PUPIL),
    ("Documents", "documents", PUPIL),
    ("Messagerie", "messages", ALL),
    ("Espaces", "spaces", ("ELV", "ENS", "DIR", "EVS")),
    ("Actualités", "news", ALL),
    ("Ressources", "links", ALL),
    ("Médiacentre", "mediacentre", ALL),
]


_UNREAD: list = []


def unread_notifications():
    """Delivered, unread notifications of the member in the establishment (a subquery of the
    membership query: preau.core.tenancy.MEMBERSHIP_ANNOTATIONS). Built once: annotate()
    resolves a copy for each query."""
    if not _UNREAD:
        unread = (
            Notification.objects.filter(
                user=OuterRef("user_id"),
                establishment=OuterRef("establishment_id"),
                delivered_at__isnull=False,
                read_at__isnull=True,
            )
            .order_by()
            .values("user")
            .annotate(n=Count("*"))
            .values("n")[:1]
        )
        _UNREAD.append(Coalesce(Subquery(unread, output_field=IntegerField()), 0))
    return _UNREAD[0]


_LINKS: dict[tuple[str, str], list[tuple[str, str, str]]] = {}


def _links(uai: str, profile: str) -> list[tuple[str, str, str]]:
    """(label, url name, url) of the sections a profile sees (a few entries per establishment)."""
    key = (uai, profile)
    if key not in _LINKS:
        _LINKS[key] = [
            (label, name, reverse(name, kwargs={"uai": uai}))
            for label, name, allowed in SECTIONS
            if profile in allowed
        ]
    return _LINKS[key]


def navigation(request):
    if getattr(request, "establishment", None) is None or not request.user.is_authenticated:
        return {}
    me = viewer(request)
    current = request.resolver_match.url_name if request.resolver_match else ""
    items = [
        {
            "label": label,
            "url": url,
            "active": current == name
            or (name != "establishment_home" and request.path.startswith(url)),
        }
        for label, name, url in _links(request.establishment.uai, me.profile)
    ]
    unread = getattr(request.membership, "unread_notifications", None)
    if unread is None:  # platform admins (no membership) and members of a just-merged establishment
        unread = (
            Notification.objects.for_request(request)
            .filter(user=request.user, delivered_at__isnull=False, read_at__isnull=True)
            .count()
        )
    return {"ent_nav": items, "ent_unread_notifications": unread, "me": me}
