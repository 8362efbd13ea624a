"""The SAML endpoints: login through an IdP, the ACS, our metadata, single logout both ways.

Every refusal is a French page (400 or 403, never a 500) and one `preau.audit` line
(`federation_refused`, with the reason: bad_signature, expired, replayed, wrong_audience,
unsolicited, idp_error, invalid_response, unknown_person, ambiguous_person…).

The ACS is a cross-site POST from the IdP: the session cookie (SameSite=Lax) does not come with
it. So the outstanding request is not kept in the session: its ID travels in the RelayState,
signed with the platform's secret and timestamped (TimestampSigner; under the 80 bytes SAML
allows), and an answer to any other request, or to one older than RELAY_MAX_AGE, is refused.
The request is also bound to the browser that started it: its ID in a cookie of its own
(BINDING_COOKIE: SameSite=None so that the IdP's POST carries it, Secure, HttpOnly, on the ACS's
path only, for RELAY_MAX_AGE). An answer brought by another browser, as a login CSRF would (an
IdP answer for someone else's account posted from a hidden form), is refused.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from django.contrib.auth import login, logout
from django.core import signing
from django.db import connection
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.ident import code as code_name_id
from saml2.ident import decode as decode_name_id
from saml2.response import IncorrectlySigned, StatusError, UnsolicitedResponse
from saml2.s_utils import UnravelError
from saml2.samlp import STATUS_SUCCESS, STATUS_UNKNOWN_PRINCIPAL
from saml2.sigver import SignatureError, SigverError, verify_redirect_signature
from saml2.validate import ResponseLifetimeExceed, ToEarly

from preau.core import metrics, throttle
from preau.core.authentication import MODEL_BACKEND
from preau.core.models import Establishment, Membership
from preau.core.views import onward
from preau.federation import matching, saml
from preau.federation.models import SeenAssertion

audit_log = logging.getLogger("preau.audit")

SESSION_KEY = saml.SESSION_KEY
RELAY_SALT = "preau.federation.relay"
RELAY_MAX_AGE = 15 * 60
BINDING_COOKIE = "preau_saml_login"
SIGALG = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
# An assertion without NotOnOrAfter is remembered this long (replay protection).
DEFAULT_ASSERTION_LIFETIME = dt.timedelta(hours=24)

LOGIN_LINK = [("/connexion/", "Revenir à la page de connexion")]


def _idp_or_404(key: str) -> saml.IdentityProvider:
    idp = next((i for i in saml.enabled_idps() if i.key == key), None)
    if idp is None:
        raise Http404("fournisseur d'identité inconnu")
    return idp


def refused(request, idp_key: str, refusal: matching.Refusal) -> HttpResponse:
    """The French page of a refusal and its one audit line."""
    audit_log.warning(
        "federation_refused",
        extra={
            "idp": idp_key,
            "reason": refusal.reason,
            "client_ip": throttle.client_ip(request),
            **refusal.details,
        },
    )
    return render(
        request,
        "preau/error.html",
        {
            "status": refusal.status,
            "title": "Connexion refusée",
            "message": refusal.message,
            "links": LOGIN_LINK,
        },
        status=refusal.status,
    )


# --- login --------------------------------------------------------------------------------------


@require_GET
@never_cache
def login_start(request, idp):
    """The button of the login page: a signed AuthnRequest to the IdP (HTTP-Redirect)."""
    provider = _idp_or_404(idp)
    request_id = "id" + secrets.token_hex(12)
    relay = signing.TimestampSigner(salt=RELAY_SALT).sign(request_id)
    try:
        _, info = saml.client().prepare_for_authenticate(
            entityid=saml.idp_entity_id(provider.key),
            relay_state=relay,
            binding=BINDING_HTTP_REDIRECT,
            sign=True,
            sigalg=SIGALG,
            message_id=request_id,
        )
    except Exception as exc:  # our key or the IdP's metadata unusable: the operator's to fix
        return unavailable(request, provider.label, exc)
    response = redirect(dict(info["headers"])["Location"])
    response.set_cookie(
        BINDING_COOKIE,
        request_id,
        max_age=RELAY_MAX_AGE,
        path=reverse("federation_acs"),
        secure=True,
        httponly=True,
        samesite="None",
    )
    return response


def unavailable(request, label: str, exc: Exception) -> HttpResponse:
    """Our side of federation unusable (a key or metadata file missing or broken): a French
    503 page and an audit line naming the error's class, never a 500."""
    audit_log.error("federation_unavailable", extra={"idp": label, "error": type(exc).__name__})
    return render(
        request,
        "preau/error.html",
        {
            "status": 503,
            "title": "Connexion indisponible",
            "message": f"La connexion « {label} » est indisponible pour le moment. Réessayez "
            "plus tard, ou connectez-vous avec un identifiant Préau.",
            "links": LOGIN_LINK,
        },
        status=503,
    )


def _failure(exc: Exception) -> matching.Refusal:
    """pysaml2's exception → the reason and the French message."""
    if isinstance(exc, (SignatureError, IncorrectlySigned, SigverError)):
        reason, message = "bad_signature", "la signature de la réponse n'est pas valide"
    elif isinstance(exc, (ResponseLifetimeExceed, ToEarly)):
        reason, message = "expired", "la réponse a expiré (ou n'est pas encore valable)"
    elif isinstance(exc, UnsolicitedResponse):
        reason, message = "unsolicited", "elle ne répond à aucune demande de connexion en cours"
    elif isinstance(exc, StatusError):
        reason, message = "idp_error", "le fournisseur d'identité a refusé l'authentification"
    elif "AudienceRestrictions" in str(exc):
        reason, message = "wrong_audience", "elle est destinée à un autre service que Préau"
    else:
        reason, message = "invalid_response", "elle est illisible ou incomplète"
    return matching.Refusal(
        reason,
        f"La réponse du fournisseur d'identité est refusée : {message}. Reprenez la connexion "
        "depuis la page de connexion de Préau.",
        status=400 if reason in ("invalid_response", "unsolicited") else 403,
        error=type(exc).__name__,
    )


@csrf_exempt
@require_POST
@never_cache
def acs(request):
    """Assertion Consumer Service: the IdP's signed answer → the AAF account, logged in."""
    idp_key = "-"
    try:
        idp, response = _verified_response(request)
        idp_key = idp.key
        _remember(idp.key, response)
        user = matching.match(idp.key, response.ava)
    except matching.Refusal as refusal:
        return refused(request, idp_key, refusal)
    login(request, user, backend=MODEL_BACKEND)
    matching.record_login(user, idp.key)
    session_index = next(
        (s.session_index for s in response.assertion.authn_statement if s.session_index), None
    )
    request.session[SESSION_KEY] = {
        "idp": idp.key,
        "name_id": code_name_id(response.name_id),
        "session_index": session_index,
    }
    throttle.record_attempt(user.username, throttle.client_ip(request), success=True)
    metrics.LOGINS.labels(result="ok").inc()
    audit_log.info("federation_login", extra={"idp": idp.key, "user_id": user.pk})
    landing = redirect(_landing(user))
    landing.delete_cookie(BINDING_COOKIE, path=reverse("federation_acs"), samesite="None")
    return landing


def _verified_response(request):
    """The POSTed response, answering a request of ours, signed by one of our IdPs, in time,
    for us: (its IdP, pysaml2's AuthnResponse); else a Refusal."""
    raw, relay = request.POST.get("SAMLResponse", ""), request.POST.get("RelayState", "")
    if not raw:
        raise _failure(ValueError("no SAMLResponse"))
    try:
        request_id = signing.TimestampSigner(salt=RELAY_SALT).unsign(relay, max_age=RELAY_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired included
        raise _failure(UnsolicitedResponse("relay state")) from None
    if not secrets.compare_digest(request.COOKIES.get(BINDING_COOKIE, ""), request_id):
        raise matching.Refusal(
            "other_browser",
            "La réponse du fournisseur d'identité est refusée : elle ne répond pas à une "
            "connexion commencée dans ce navigateur. Reprenez la connexion depuis la page de "
            "connexion de Préau.",
        )
    try:
        response = saml.client().parse_authn_request_response(
            raw, BINDING_HTTP_POST, outstanding={request_id: "/"}
        )
        if response is None or response.assertion is None:
            raise UnravelError("no assertion")
    except Exception as exc:  # pysaml2 raises bare Exception too (an audience not ours)
        raise _failure(exc) from None
    idp = saml.idp_of_entity(response.issuer())
    if idp is None:  # signed by a metadata entity that is not one of ours
        raise _failure(SignatureError("issuer"))
    return idp, response


def _remember(idp_key: str, response) -> None:
    """Remember the assertion's ID until its NotOnOrAfter; one already seen is refused. One
    statement: the expired IDs (a few minutes of clock slack kept) go, this one comes in
    unless it is there already."""
    now = timezone.now()
    until = (
        dt.datetime.fromtimestamp(response.not_on_or_after, dt.UTC)
        if response.not_on_or_after
        else now + DEFAULT_ASSERTION_LIFETIME
    )
    table = SeenAssertion._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH gone AS (DELETE FROM {table} WHERE expires_at < %s) "
            f"INSERT INTO {table} (assertion_id, idp, expires_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (assertion_id) DO NOTHING RETURNING 1",
            [now - dt.timedelta(minutes=5), response.assertion.id[:256], idp_key, until],
        )
        if cursor.fetchone() is None:
            raise matching.Refusal(
                "replayed",
                "Cette réponse de connexion a déjà servi : elle ne peut pas être rejouée. "
                "Reprenez la connexion depuis la page de connexion de Préau.",
            )


def _landing(user) -> str:
    """The dashboard of the one establishment, else the list of the user's establishments."""
    uais = list(
        Membership.objects.current()
        .filter(user=user, establishment__status=Establishment.Status.ACTIVE)
        .values_list("establishment__uai", flat=True)[:2]
    )
    return f"/e/{uais[0]}/" if len(uais) == 1 else "/"


# --- metadata -----------------------------------------------------------------------------------


@require_GET
def metadata(request):
    """Our SP metadata (entity ID, ACS, SLS, our certificate) for the IdPs' operators."""
    if not saml.enabled_idps():
        raise Http404("fédération désactivée")
    from saml2.metadata import entity_descriptor

    try:
        xml = str(entity_descriptor(saml.sp_config()))
    except Exception as exc:
        return unavailable(request, "la fédération d'identités", exc)
    return HttpResponse(xml, content_type="application/samlmetadata+xml")


# --- single logout ------------------------------------------------------------------------------


federated_session = saml.federated_session


def logout_start(request) -> HttpResponse:
    """SP-initiated logout (core's logout view, for a federated session): Préau's session ends
    at once, then a signed LogoutRequest goes to the IdP, whose answer comes back to `sls`."""
    info = federated_session(request)
    logout(request)
    if info is None or info.get("idp") not in saml.IDPS:
        return redirect("login")
    try:
        client = saml.client()
        entity_id = saml.idp_entity_id(info["idp"])
        slo = client.metadata.single_logout_service(entity_id, BINDING_HTTP_REDIRECT, "idpsso")
        destination = slo[0]["location"]
        _, message = client.create_logout_request(
            destination,
            entity_id,
            name_id=decode_name_id(info["name_id"]),
            session_indexes=[info["session_index"]] if info.get("session_index") else None,
            sign=False,
            expire=None,
        )
        http = client.apply_binding(
            BINDING_HTTP_REDIRECT, str(message), destination, sign=True, sigalg=SIGALG
        )
    except Exception as exc:  # no SLO endpoint in the metadata, IdP gone from it…
        audit_log.warning(
            "federation_logout_failed", extra={"idp": info["idp"], "error": type(exc).__name__}
        )
        return _logged_out(request, info["idp"], confirmed=False)
    label = saml.IDPS[info["idp"]].label
    return onward(
        request,
        dict(http["headers"])["Location"],
        label,
        f"Vous êtes déconnecté de Préau ; la déconnexion continue chez {label}.",
    )


def _logged_out(request, idp_key: str, confirmed: bool, status: int = 200) -> HttpResponse:
    label = saml.IDPS[idp_key].label if idp_key in saml.IDPS else "votre fournisseur d'identité"
    message = (
        f"Vous êtes déconnecté de Préau et de {label}."
        if confirmed
        else f"Vous êtes déconnecté de Préau. {label} n'a pas confirmé la fin de votre session "
        "chez lui : fermez votre navigateur si l'appareil est partagé."
    )
    return render(
        request,
        "preau/error.html",
        {"status": status, "title": "Déconnexion", "message": message, "links": LOGIN_LINK},
        status=status,
    )


def _verified_issuer(client, query, issuer: str) -> saml.IdentityProvider:
    """The HTTP-Redirect binding's signature (query parameters) checked with the issuer's
    signing certificates from its metadata; the issuer must be one of our IdPs. pysaml2 checks
    it only when its configuration requires signed requests, which an SP's cannot say."""
    idp = saml.idp_of_entity(issuer)
    if idp is None:
        raise SignatureError("issuer")
    fields = ("SAMLRequest", "SAMLResponse", "RelayState", "SigAlg", "Signature")
    message = {k: query[k] for k in fields if k in query}
    if "Signature" not in message or "SigAlg" not in message:
        raise SignatureError("unsigned")
    for _, cert in client.metadata.certs(issuer, "idpsso", "signing"):
        try:
            if verify_redirect_signature(message, client.sec.sec_backend, cert):
                return idp
        except Exception:  # a malformed signature or algorithm
            continue
    raise SignatureError("redirect signature")


@require_GET
@never_cache
def sls(request):
    """Single Logout Service (HTTP-Redirect): the IdP's answer to our LogoutRequest, or its own
    LogoutRequest (the user logged out elsewhere) answered with a signed LogoutResponse."""
    if not saml.enabled_idps():
        raise Http404("fédération désactivée")
    try:
        client = saml.client()
    except Exception as exc:
        return unavailable(request, "la fédération d'identités", exc)
    query = request.GET
    if "SAMLResponse" in query:
        try:
            answer = client.parse_logout_request_response(
                query["SAMLResponse"], BINDING_HTTP_REDIRECT
            )
            idp = _verified_issuer(client, query, answer.issuer())
        except Exception as exc:
            refusal = _failure(exc)
            audit_log.warning(
                "federation_refused",
                extra={"idp": "-", "reason": refusal.reason, "kind": "logout_response"},
            )
            return _logged_out(request, "-", confirmed=False, status=refusal.status)
        return _logged_out(request, idp.key, confirmed=answer.status_ok())
    if "SAMLRequest" in query:
        try:
            parsed = client.parse_logout_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
            idp = _verified_issuer(client, query, parsed.message.issuer.text)
        except Exception as exc:
            return refused(request, "-", _failure(exc))
        return _idp_logout(request, client, idp, parsed.message, query.get("RelayState", ""))
    return refused(
        request,
        "-",
        matching.Refusal(
            "invalid_response", "Cette adresse attend un message de déconnexion SAML.", status=400
        ),
    )


def _idp_logout(request, client, idp, message, relay_state: str) -> HttpResponse:
    """IdP-initiated logout: this browser's session ends when it is the one named."""
    info = federated_session(request)
    status = STATUS_SUCCESS
    if info is not None:
        if info.get("idp") == idp.key and decode_name_id(info["name_id"]) == message.name_id:
            logout(request)
            audit_log.info("federation_logout", extra={"idp": idp.key, "initiated_by": "idp"})
        else:
            status = STATUS_UNKNOWN_PRINCIPAL
    from saml2.samlp import Status, StatusCode

    response = client.create_logout_response(
        message,
        bindings=[BINDING_HTTP_REDIRECT],
        status=Status(status_code=StatusCode(value=status)),
        sign=False,
    )
    destination = client.response_args(message, [BINDING_HTTP_REDIRECT])["destination"]
    http = client.apply_binding(
        BINDING_HTTP_REDIRECT,
        str(response),
        destination,
        relay_state,
        response=True,
        sign=True,
        sigalg=SIGALG,
    )
    return redirect(dict(http["headers"])["Location"])
