"""The GAR's identity provider: our IdP metadata and the single sign-on service (HTTP-Redirect and
HTTP-POST bindings), answered by a signed Response carrying a signed Assertion (RSA-SHA256),
posted back to the GAR's assertion consumer service by the browser.

Every refusal is a French page (400 for an unreadable request, 403, 503 when our side is
unusable; never a 500) and one `preau.audit` line `gar_refused` with the reason: bad_signature,
unknown_sp, invalid_request, expired, not_enabled, unavailable. Every assertion released is a
`gar_assertion` entry of the audit log (core.accounts.audit: the establishment's OperationLog
and the audit line, the attributes' names, never their values).

The GAR's request is checked as soon as it arrives; the person need not be logged in yet. Then
it goes on as a short signed token (TimestampSigner, PENDING_MAX_AGE) through
`sso/reprise/`, a top-level GET of our own, because:
- a POST from the GAR's site is cross-site: the session cookie (SameSite=Lax) does not come
  with it, but it comes with the GET it is redirected to;
- the login page may come in between, and a request's IssueInstant is checked against a minute
  of clock slack only: the request itself could not be checked again after a login.
"""

from __future__ import annotations

import base64
import logging
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.request import AuthnRequest
from saml2.saml import AUTHN_PASSWORD_PROTECTED, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.samlp import authn_request_from_string

from preau.core import accounts, throttle
from preau.core.errors import ways_back
from preau.gar import idp

audit_log = logging.getLogger("preau.audit")

PENDING_SALT = "preau.gar.sso"
PENDING_MAX_AGE = 10 * 60


class Refused(Exception):
    """A request the IdP does not answer: the reason (audit) and the French message."""

    def __init__(self, reason: str, message: str, status: int = 403):
        super().__init__(message)
        self.reason, self.message, self.status = reason, message, status


def _refused(request, refusal: Refused, **details) -> HttpResponse:
    audit_log.warning(
        "gar_refused",
        extra={"reason": refusal.reason, "client_ip": throttle.client_ip(request), **details},
    )
    context = {
        "status": refusal.status,
        "title": "Accès au GAR refusé" if refusal.status != 503 else "GAR indisponible",
        "message": refusal.message,
        "links": ways_back(request),
    }
    response = render(request, "preau/error.html", context, status=refusal.status)
    response["Cache-Control"] = "no-store"
    return response


def _unavailable(exc: Exception) -> Refused:
    """Our key, certificate or the GAR's metadata file unusable: the operator's to fix."""
    return Refused(
        "unavailable",
        "L'accès aux ressources du GAR est indisponible pour le moment (configuration de "
        f"Préau : {type(exc).__name__}). Réessayez plus tard.",
        status=503,
    )


@require_GET
def metadata(request):
    """Our IdP metadata (entity ID, SSO endpoints, signing certificate) for the GAR."""
    if not idp.enabled():
        raise Http404("GAR désactivé")
    from saml2.metadata import entity_descriptor

    try:
        xml = str(entity_descriptor(idp.idp_config()))
    except Exception as exc:
        return _refused(request, _unavailable(exc))
    return HttpResponse(xml, content_type="application/samlmetadata+xml")


@require_http_methods(["GET", "POST"])
@never_cache
def sso(request):
    """The GAR's AuthnRequest (HTTP-Redirect: GET, HTTP-POST: POST), checked, then answered
    for the logged-in person, or kept (signed token) while they log in."""
    if not idp.enabled():
        raise Http404("GAR désactivé")
    binding = BINDING_HTTP_POST if request.method == "POST" else BINDING_HTTP_REDIRECT
    data = request.POST if request.method == "POST" else request.GET
    try:
        pending = _verified_request(data, binding)
    except Refused as refusal:
        return _refused(request, refusal, binding=binding.rsplit(":", 1)[-1])
    if request.user.is_authenticated:
        return _answer(request, pending)
    token = signing.dumps(pending, salt=PENDING_SALT, compress=True)
    return redirect(f"{reverse('gar_sso_resume')}?{urlencode({'t': token})}")


@require_GET
@never_cache
def sso_resume(request):
    """The checked request again (a top-level GET: the session comes with it), after the login
    when the person was not logged in."""
    if not idp.enabled():
        raise Http404("GAR désactivé")
    try:
        pending = signing.loads(
            request.GET.get("t", ""), salt=PENDING_SALT, max_age=PENDING_MAX_AGE
        )
    except signing.BadSignature:  # SignatureExpired included
        return _refused(
            request,
            Refused(
                "expired",
                "La demande d'accès du GAR a expiré ou n'est pas valide. Rouvrez la ressource "
                "depuis le médiacentre.",
                status=400,
            ),
        )
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    return _answer(request, pending)


def _verified_request(data, binding: str) -> dict:
    """The AuthnRequest of the GAR (the one SP of our metadata), signed by its key when so
    configured, for our SSO endpoint and in time: what the answer needs; else Refused."""
    raw = data.get("SAMLRequest", "")
    if not raw:
        raise Refused(
            "invalid_request",
            "Cette adresse attend une demande d'authentification SAML du GAR.",
            status=400,
        )
    try:
        server = idp.server()
    except Exception as exc:
        raise _unavailable(exc) from None
    try:
        message = authn_request_from_string(server.unravel(raw, binding, AuthnRequest.msgtype))
        sp = message.issuer.text.strip() if message is not None and message.issuer else ""
    except Exception:  # not base64, not deflated, not XML, not an AuthnRequest
        sp = None
    if sp is None:
        raise Refused(
            "invalid_request", "La demande d'authentification reçue est illisible.", status=400
        )
    if sp not in server.metadata.keys():  # noqa: SIM118 (MetadataStore: no __contains__)
        raise Refused(
            "unknown_sp",
            "Ce service n'est pas le GAR connu de Préau : aucune information ne lui a été "
            "transmise. Vérifiez le lien qui vous a mené ici.",
        )
    try:
        parsed = server.parse_authn_request(
            raw,
            binding,
            relay_state=data.get("RelayState"),
            sigalg=data.get("SigAlg"),
            signature=data.get("Signature"),
        )
        if parsed is None:  # pysaml2's verify(): wrong destination, too old, from the future
            raise ValueError("request not valid")
        args = server.response_args(parsed.message, [BINDING_HTTP_POST])
    except Exception as exc:
        signed = "Signed" in type(exc).__name__ or "Signature" in type(exc).__name__
        raise Refused(
            "bad_signature" if signed else "invalid_request",
            "La demande d'authentification du GAR est refusée : "
            + ("sa signature n'est pas valide." if signed else "elle est invalide ou expirée.")
            + " Rouvrez la ressource depuis le médiacentre.",
            status=403 if signed else 400,
        ) from None
    return {
        "id": parsed.message.id,
        "sp": sp,
        "destination": args["destination"],
        "relay": data.get("RelayState", ""),
    }


def _answer(request, pending: dict) -> HttpResponse:
    """The signed Response for the logged-in person, posted to the GAR by their browser."""
    membership = idp.membership_for(request.user, request.session)
    if membership is None:
        return _refused(
            request,
            Refused(
                "not_enabled",
                "Le GAR n'est ouvert à aucun de vos établissements dans Préau : aucune "
                "information ne lui a été transmise. Adressez-vous à la direction de votre "
                "établissement si vous pensez qu'il devrait l'être.",
            ),
            user=request.user.username,
        )
    try:
        server = idp.server()
        identity = idp.attributes(membership)
        response = server.create_authn_response(
            identity=identity,
            in_response_to=pending["id"],
            destination=pending["destination"],
            sp_entity_id=pending["sp"],
            name_id=NameID(
                format=NAMEID_FORMAT_PERSISTENT,
                text=identity[idp.ATTR_PERSON_ID][0],
                name_qualifier=server.config.entityid,
                sp_name_qualifier=pending["sp"],
            ),
            authn={"class_ref": AUTHN_PASSWORD_PROTECTED, "authn_auth": server.config.entityid},
            sign_response=True,
            sign_assertion=True,
            sign_alg=idp.SIGN_ALG,
            digest_alg=idp.DIGEST_ALG,
        )
    except Exception as exc:
        return _refused(request, _unavailable(exc))
    accounts.audit(
        "gar_assertion",
        membership.establishment,
        [request.user],
        by=request.user.username,
        via="gar",
        details={"sp": pending["sp"], "attributes": ",".join(identity)},
    )
    context = {
        "action": pending["destination"],
        "saml_response": base64.b64encode(str(response).encode()).decode(),
        "relay_state": pending["relay"],
    }
    return render(request, "gar/post.html", context)
