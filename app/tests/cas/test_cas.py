"""Préau as a CAS 3.0 server (issue #20 item 4), checked with a CAS client no one here wrote:
python-cas (its CASClientV3 and V2) validating the tickets against the live server."""

import datetime as dt
import html
import logging
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree as ET

import pytest
from cas import CASClient
from django.utils import timezone

from preau.cas.models import CasService, ServiceTicket
from preau.core.management.base import OpsError
from preau.core.models import Membership
from tests.helpers import destination
from tests.school import make_school

PRONOTE = "https://pronote.example/0820021C/eleve.html"
MANUELS = "https://manuels.example/"
NS = "{http://www.yale.edu/tp/cas}"


@pytest.fixture
def world(db):
    """A's pupils reach "Pronote" (every attribute); B's reach "Manuels" (the UAI only)."""
    a, b = make_school("A", "0820021C"), make_school("B", "0820010R")
    a["student"].join_key = "ELV-A-1"
    a["student"].save(update_fields=["join_key"])
    CasService.objects.create(
        establishment=a["est"],
        name="Pronote",
        url_prefix="https://pronote.example/0820021C/",
        attributes=["identifier", "profile", "uai", "classes"],
    )
    CasService.objects.create(
        establishment=b["est"], name="Manuels", url_prefix=MANUELS, attributes=["uai"]
    )
    return {"A": a, "B": b}


def cas_client(server, service=PRONOTE, version=3):
    return CASClient(version=version, service_url=service, server_url=f"{server}/cas/")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def ticket_from(response) -> str:
    return parse_qs(urlsplit(destination(response)).query)["ticket"][0]


def failure_code(xml: bytes | str) -> str:
    failure = ET.fromstring(xml).find(f"{NS}authenticationFailure")
    assert failure is not None, xml
    return failure.get("code")


def test_python_cas_validates_tickets_once_with_the_agreed_attributes(
    client, world, live_server, caplog
):
    a = world["A"]
    client.force_login(a["student"])
    pronote = cas_client(live_server.url)
    response = client.get(path_of(pronote.get_login_url()))
    assert destination(response).startswith(PRONOTE + "?ticket=ST-")
    ticket = ticket_from(response)
    with caplog.at_level(logging.INFO, logger="preau.audit"):
        user, attributes, pgtiou = pronote.verify_ticket(ticket)
    assert user == "studenta" and pgtiou is None
    assert {k: attributes[k] for k in ("identifier", "profile", "uai", "classes")} == {
        "identifier": "ELV-A-1",
        "profile": "ELV",
        "uai": "0820021C",
        "classes": "5A",  # a class, not the pupil's Latin group
    }
    assert attributes["isFromNewLogin"] == "true"  # force_login() is a login, just now
    # Logged by the live server's thread: one line per release, the attributes' names only.
    release = next(r for r in caplog.records if r.msg == "cas_release")
    assert (release.service, release.establishment, release.user) == (
        "Pronote",
        "0820021C",
        "studenta",
    )
    assert release.attributes == "identifier,profile,uai,classes"
    # Single use: the same ticket again is refused.
    assert pronote.verify_ticket(ticket) == (None, {}, None)
    assert failure_code(pronote.get_verification_response(ticket)) == "INVALID_TICKET"
    # A CAS 2.0 client (/serviceValidate) gets the user too; a teacher gets the classes taught.
    client.force_login(a["teacher"])
    ticket = ticket_from(client.get(path_of(pronote.get_login_url())))
    user, attributes, _ = cas_client(live_server.url, version=2).verify_ticket(ticket)
    assert user == "teachera" and attributes["profile"] == "ENS" and attributes["classes"] == "5A"


def test_python_cas_gets_the_protocols_failure_codes(client, world, live_server):
    a = world["A"]
    client.force_login(a["student"])
    pronote = cas_client(live_server.url)

    def ticket():
        return ticket_from(client.get(path_of(pronote.get_login_url())))

    # Validated for another service than the one it was issued for: refused, and used up.
    stolen = ticket()
    other = cas_client(live_server.url, service="https://pronote.example/0820021C/autre")
    assert failure_code(other.get_verification_response(stolen)) == "INVALID_SERVICE"
    assert failure_code(pronote.get_verification_response(stolen)) == "INVALID_TICKET"
    # Expired (a minute).
    late = ticket()
    ServiceTicket.objects.filter(ticket=late).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert failure_code(pronote.get_verification_response(late)) == "INVALID_TICKET"
    # Unknown, not a service ticket, missing.
    assert failure_code(pronote.get_verification_response("ST-inconnu")) == "INVALID_TICKET"
    assert failure_code(pronote.get_verification_response("PT-1")) == "INVALID_TICKET"
    assert failure_code(pronote.get_verification_response("")) == "INVALID_REQUEST"
    # renew=true asks for a ticket of a new login: this session's is not.
    renewing = CASClient(
        version=3, service_url=PRONOTE, server_url=f"{live_server.url}/cas/", renew=True
    )
    code = failure_code(
        renewing.session.get(
            f"{live_server.url}/cas/p3/serviceValidate",
            params={"ticket": ticket(), "service": PRONOTE, "renew": "true"},
        ).content
    )
    assert code == "INVALID_TICKET_SPEC"
    # The pupil's membership disabled since the ticket was issued.
    pending = ticket()
    Membership.objects.filter(user=a["student"]).update(disabled=True)
    assert failure_code(pronote.get_verification_response(pending)) == "INVALID_TICKET"
    assert not ServiceTicket.objects.exists()  # every ticket used up, whatever the outcome


def test_login_page_then_back_with_a_ticket_of_a_new_login(client, world):
    a = world["A"]
    a["student"].set_password("Un-mot-de-passe-2026")
    a["student"].save()
    login_url = f"/cas/login?service={PRONOTE}"
    response = client.get(login_url)
    assert response.status_code == 302 and response["Location"].startswith("/connexion/?next=")
    response = client.post(
        response["Location"],
        {"username": "studenta", "password": "Un-mot-de-passe-2026"},
    )
    assert response.status_code == 302 and response["Location"] == login_url
    # The end of the login form's redirections: a page sends the browser on to the service
    # (nginx's CSP form-action 'self' refuses a redirection to another site there).
    response = client.get(login_url)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    ticket = ticket_from(response)
    xml = client.get(
        "/cas/p3/serviceValidate", {"ticket": ticket, "service": PRONOTE, "renew": "true"}
    ).content
    success = ET.fromstring(xml).find(f"{NS}authenticationSuccess")
    assert success.find(f"{NS}attributes/{NS}isFromNewLogin").text == "true"
    # The next ticket of that session is not from a new login; renew=true asks for one.
    assert "ticket=" in client.get(login_url)["Location"]
    response = client.get(login_url + "&renew=true")
    assert response["Location"].startswith("/connexion/?next=")
    assert "_auth_user_id" not in client.session  # logged out, to log in again


@pytest.mark.parametrize(
    ("service", "status", "says"),
    [
        (MANUELS + "cours", 403, "n'est pas ouvert à votre établissement"),
        ("https://inconnu.example/", 403, "n'est connu d'aucun établissement"),
        ("https://pronote.example/0820010R/", 403, "n'est connu d'aucun établissement"),
        ("http://pronote.example/0820021C/", 400, "seules les adresses https:// sont acceptées"),
        ("https://pronote.example/0820021C/x y", 400, "espaces"),
    ],
)
def test_a_service_not_allowed_to_the_users_establishment_gets_no_ticket(
    client, world, service, status, says
):
    client.force_login(world["A"]["student"])
    response = client.get("/cas/login", {"service": service})
    assert response.status_code == status
    assert says in html.unescape(response.content.decode())
    assert not ServiceTicket.objects.exists()


def test_gateway_and_logout(client, world):
    # gateway: an anonymous visitor is sent back to a known service without a ticket.
    response = client.get("/cas/login", {"service": PRONOTE, "gateway": "true"})
    assert response["Location"] == PRONOTE
    response = client.get("/cas/login", {"service": "https://inconnu.example/", "gateway": "true"})
    assert response["Location"].startswith("/connexion/")
    # logout ends the Préau session, then back to a known service only.
    client.force_login(world["A"]["student"])
    response = client.get("/cas/logout", {"service": PRONOTE})
    assert response["Location"] == PRONOTE and "_auth_user_id" not in client.session
    client.force_login(world["A"]["student"])
    response = client.get("/cas/logout", {"service": "https://evil.example/"})
    assert response["Location"] == "/connexion/" and "_auth_user_id" not in client.session


def test_a_ticket_and_its_validation_cost_a_few_queries(
    client, world, django_assert_max_num_queries
):
    client.force_login(world["A"]["teacher"])
    with django_assert_max_num_queries(10):
        ticket = ticket_from(client.get("/cas/login", {"service": PRONOTE}))
    with django_assert_max_num_queries(10):
        xml = client.get("/cas/p3/serviceValidate", {"ticket": ticket, "service": PRONOTE})
    assert b"authenticationSuccess" in xml.content


def test_cas_service_command(world, call_json):
    with pytest.raises(OpsError) as refused:
        call_json(
            "cas_service",
            "add",
            "0820021C",
            "http://vie-scolaire.example",
            "--name",
            " ",
            "--attributes",
            "uai,birth_date",
        )
    assert refused.value.errors == [
        "--name ne peut pas être vide",
        "préfixe refusé : seules les adresses https:// sont acceptées : "
        "'http://vie-scolaire.example'",
        "attribut inconnu 'birth_date' (au choix : identifier, profile, uai, classes)",
    ]
    with pytest.raises(OpsError, match="doit comporter un chemin"):
        call_json("cas_service", "add", "0820021C", "https://a.example", "--name", "A")
    with pytest.raises(OpsError, match="déjà un service"):
        call_json(
            "cas_service", "add", "0820021C", "https://pronote.example/0820021C/", "--name", "P"
        )
    assert CasService.objects.count() == 2  # nothing added by the refusals
    added = call_json(
        "cas_service",
        "add",
        "0820021C",
        "https://vie-scolaire.example/",
        "--name",
        "Vie scolaire",
        "--attributes",
        "uai,identifier",
    )
    assert added["service"] == {
        "uai": "0820021C",
        "name": "Vie scolaire",
        "url_prefix": "https://vie-scolaire.example/",
        "attributes": ["identifier", "uai"],
        "proxy_allowed": False,
    }
    listed = call_json("cas_service", "list", "0820021C")["services"]
    assert [s["name"] for s in listed] == ["Pronote", "Vie scolaire"]
    call_json("cas_service", "remove", "0820021C", "https://vie-scolaire.example/")
    with pytest.raises(OpsError, match="n'a pas de service"):
        call_json("cas_service", "remove", "0820021C", "https://vie-scolaire.example/")


def test_expired_tickets_never_validated_go_with_the_daily_purge(client, world, call_json):
    client.force_login(world["A"]["student"])
    for _ in range(2):
        client.get("/cas/login", {"service": PRONOTE})
    expired = ServiceTicket.objects.order_by("pk").first()
    ServiceTicket.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    assert call_json("purge_gone")["cas_tickets_deleted"] == 1
    assert ServiceTicket.objects.count() == 1
