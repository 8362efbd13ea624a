"""CAS 3.0 (Apereo's protocol specification): which service a URL is, tickets, what is released.

The views (preau.cas.views) only read the request and answer; the rules are here."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from django.db import transaction
from django.utils import timezone

from preau.cas.models import CasService, ServiceTicket
from preau.core.models import (
    ClassGroup,
    Establishment,
    Membership,
    Platform,
    Profile,
    TeachingAssignment,
)

TICKET_SECONDS = 60
# A ticket issued this soon after the session's login says isFromNewLogin (and satisfies renew).
FRESH_LOGIN_SECONDS = 120
SESSION_LOGIN_AT = "cas_login_at"
MAX_URL_LENGTH = 2000
NS = "http://www.yale.edu/tp/cas"
ET.register_namespace("cas", NS)
# Every attribute release, one JSON line per validated ticket (never the values).
audit_log = logging.getLogger("preau.audit")


class Refusal(Exception):
    """A validation failure: one of the protocol's codes and a message for the service."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def url_problem(url: str) -> str:
    """Why `url` cannot be a service (or a service prefix) URL, in French; "" when it can."""
    if len(url) > MAX_URL_LENGTH:
        return f"adresse trop longue ({len(url)} caractères, au plus {MAX_URL_LENGTH})"
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"adresse illisible : {url[:100]!r}"
    if parts.scheme != "https":
        return f"seules les adresses https:// sont acceptées : {url[:100]!r}"
    if not parts.hostname or any(c.isspace() for c in url):
        return f"adresse sans nom de serveur ou avec des espaces : {url[:100]!r}"
    return ""


def prefix_problem(prefix: str) -> str:
    """A service prefix also names a path (at least "/"), so that https://a.fr cannot match
    https://a.fr.example.com."""
    problem = url_problem(prefix)
    if not problem and not urlsplit(prefix).path.startswith("/"):
        problem = f"le préfixe doit comporter un chemin, au moins « / » : {prefix!r}"
    if not problem and (urlsplit(prefix).query or urlsplit(prefix).fragment):
        problem = f"le préfixe ne doit pas comporter de « ? » ni de « # » : {prefix!r}"
    return problem


def _longest_match(services, url: str):
    matching = [s for s in services if url.startswith(s.url_prefix)]
    return max(matching, key=lambda s: len(s.url_prefix), default=None)


def allowed_service(user, url: str) -> tuple[CasService, Membership] | None:
    """The service `url` is for one of `user`'s establishments (active, current membership),
    with that membership; the longest prefix wins, then the first establishment by UAI."""
    memberships = {
        m.establishment_id: m
        for m in Membership.objects.current()
        .filter(user=user, establishment__status=Establishment.Status.ACTIVE)
        .select_related("establishment")
        .order_by("-establishment__uai")
    }
    services = CasService.objects.filter(establishment_id__in=list(memberships)).order_by(
        "-establishment__uai"
    )
    service = _longest_match(services, url)
    return None if service is None else (service, memberships[service.establishment_id])


def known_anywhere(url: str) -> bool:
    """Whether some active establishment allows a service of this URL (for the gateway's and
    the logout's redirections, and to say why a user is refused)."""
    prefixes = CasService.objects.filter(establishment__status=Establishment.Status.ACTIVE)
    return any(url.startswith(p) for p in prefixes.values_list("url_prefix", flat=True))


def remember_login(sender, request, user, **kwargs) -> None:
    """user_logged_in receiver: when this session logged in (isFromNewLogin, renew)."""
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_LOGIN_AT] = time.time()


def take_fresh_login(session) -> bool:
    """Whether the session logged in within FRESH_LOGIN_SECONDS; only the first ticket after a
    login is from that login."""
    logged_in_at = session.get(SESSION_LOGIN_AT)
    if logged_in_at is None:
        return False
    del session[SESSION_LOGIN_AT]
    return time.time() - logged_in_at <= FRESH_LOGIN_SECONDS


def issue(service: CasService, url: str, user, from_new_login: bool) -> str:
    ticket = "ST-" + secrets.token_urlsafe(32)
    ServiceTicket.objects.create(
        ticket=ticket,
        service=service,
        service_url=url,
        user=user,
        from_new_login=from_new_login,
        expires_at=timezone.now() + dt.timedelta(seconds=TICKET_SECONDS),
    )
    return ticket


def validate(ticket: str, url: str, renew: bool) -> tuple[ServiceTicket, Membership]:
    """The ticket's user and membership, the ticket deleted whatever the outcome (single use:
    a second validation, even concurrent, finds nothing). Refusal otherwise."""
    if not ticket or not url:
        raise Refusal("INVALID_REQUEST", "les paramètres ticket et service sont obligatoires")
    if not ticket.startswith("ST-") or len(ticket) > 100:
        raise Refusal("INVALID_TICKET", f"ticket {ticket[:100]!r} : pas un ticket de service")
    with transaction.atomic():
        found = (
            ServiceTicket.objects.select_for_update(of=("self",))
            .select_related("service__establishment", "user")
            .filter(ticket=ticket)
            .first()
        )
        if found is not None:
            ServiceTicket.objects.filter(pk=found.pk).delete()
    if found is None:
        raise Refusal("INVALID_TICKET", f"ticket {ticket[:100]} inconnu ou déjà utilisé")
    if found.expires_at <= timezone.now():
        raise Refusal("INVALID_TICKET", f"ticket {ticket} expiré")
    if found.service_url != url:
        raise Refusal("INVALID_SERVICE", f"ticket {ticket} délivré pour un autre service")
    if renew and not found.from_new_login:
        raise Refusal("INVALID_TICKET_SPEC", f"ticket {ticket} non issu d'une nouvelle connexion")
    membership = (
        Membership.objects.current()
        .filter(
            user=found.user,
            establishment=found.service.establishment,
            establishment__status=Establishment.Status.ACTIVE,
        )
        .first()
    )
    if membership is None or not found.user.is_active:
        raise Refusal("INVALID_TICKET", f"ticket {ticket} : compte ou établissement fermé depuis")
    membership.user, membership.establishment = found.user, found.service.establishment
    return found, membership


def attributes(service: CasService, membership: Membership) -> dict[str, list[str]]:
    """The attributes `service` was granted, of the person's membership (multi-valued ones as
    lists; an empty value is left out)."""
    user, est = membership.user, membership.establishment
    values: dict[str, list[str]] = {}
    if "identifier" in service.attributes and user.join_key:
        values["identifier"] = [user.join_key]
    if "profile" in service.attributes:
        values["profile"] = [membership.profile]
    if "uai" in service.attributes:
        values["uai"] = [est.uai]
    if "classes" in service.attributes:
        year = Platform.current_school_year()
        classes = ClassGroup.objects.filter(
            establishment=est, kind=ClassGroup.Kind.CLASS, school_year=year
        )
        if membership.profile == Profile.ELV:
            classes = classes.filter(members=user)
        elif membership.profile == Profile.ENS:
            taught = TeachingAssignment.objects.filter(teacher=user, establishment=est)
            classes = classes.filter(pk__in=taught.values("class_group_id"))
        else:
            classes = classes.none()
        names = list(classes.order_by("name").values_list("name", flat=True).distinct())
        if names:
            values["classes"] = names
    return values


def success_xml(found: ServiceTicket, released: dict[str, list[str]]) -> str:
    root = ET.Element(f"{{{NS}}}serviceResponse")
    success = ET.SubElement(root, f"{{{NS}}}authenticationSuccess")
    ET.SubElement(success, f"{{{NS}}}user").text = found.user.username
    attrs = ET.SubElement(success, f"{{{NS}}}attributes")
    standard = {
        "authenticationDate": found.created_at.isoformat(),
        "isFromNewLogin": "true" if found.from_new_login else "false",
        "longTermAuthenticationRequestTokenUsed": "false",
    }
    for name, value in standard.items():
        ET.SubElement(attrs, f"{{{NS}}}{name}").text = value
    for name, values in released.items():
        for value in values:
            ET.SubElement(attrs, f"{{{NS}}}{name}").text = value
    return ET.tostring(root, encoding="unicode")


def failure_xml(refusal: Refusal) -> str:
    root = ET.Element(f"{{{NS}}}serviceResponse")
    failure = ET.SubElement(root, f"{{{NS}}}authenticationFailure", code=refusal.code)
    failure.text = str(refusal)
    return ET.tostring(root, encoding="unicode")


def log_release(found: ServiceTicket, membership: Membership, released: dict) -> None:
    audit_log.info(
        "cas_release",
        extra={
            "action": "cas_release",
            "service_id": found.service_id,
            "service": found.service.name,
            "establishment": membership.establishment.uai,
            "user": found.user.username,
            "attributes": ",".join(released),
        },
    )
