"""Establishment navigation for the base template (one cheap indexed count per page)."""
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
]


def navigation(request):
    if getattr(request, "establishment", None) is None or not request.user.is_authenticated:
        return {}
    me = viewer(request)
    uai = request.establishment.uai
    current = request.resolver_match.url_name if request.resolver_match else ""
    items = []
    for label, name, allowed in SECTIONS:
        if me.profile in allowed:
            url = reverse(name, kwargs={"uai": uai})
            active = current == name or (name != "establishment_home" and request.path.startswith(url))
            items.append({"label": label, "url": url, "active": active})
    unread = Notification.objects.for_request(request).filter(
        user=request.user, delivered_at__isnull=False, read_at__isnull=True).count()
    return {"ent_nav": items, "ent_unread_notifications": unread, "me": me}
