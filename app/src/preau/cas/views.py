"""/cas/…: Préau as a CAS 3.0 server for the partner services of the establishments."""

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from preau.cas import protocol
from preau.core.errors import ways_back
from preau.core.views import onward

_TRUE = {"true", "1", "yes", "on"}


def _flag(request, name: str) -> bool:
    return request.GET.get(name, "").strip().lower() in _TRUE


def _refused(request, status: int, title: str, message: str) -> HttpResponse:
    """A French page, no ticket."""
    context = {"status": status, "title": title, "message": message, "links": ways_back(request)}
    response = render(request, "preau/error.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _with_ticket(url: str, ticket: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}ticket={ticket}"


@require_GET
@never_cache
def login(request):
    """A ticket for the service to a logged-in member of an establishment that allows it; the
    login page first (then back here) for anyone else, or the service without a ticket when
    it asks so (gateway)."""
    url = request.GET.get("service", "")
    if not url:
        return redirect("home")
    problem = protocol.url_problem(url)
    if problem:
        return _refused(request, 400, "Adresse de service invalide", f"Service refusé : {problem}.")
    renew = _flag(request, "renew")
    if not request.user.is_authenticated:
        gateway = _flag(request, "gateway") and not renew and protocol.known_anywhere(url)
        return redirect(url) if gateway else redirect_to_login(request.get_full_path())
    from_new_login = protocol.take_fresh_login(request.session)
    if renew and not from_new_login:
        # Asked to authenticate again whatever the session: a new login, then back here.
        logout(request)
        return redirect_to_login(request.get_full_path())
    match = protocol.allowed_service(request.user, url)
    if match is None:
        return _not_allowed(request, url)
    service, _membership = match
    ticket = protocol.issue(service, url, request.user, from_new_login)
    target = _with_ticket(url, ticket)
    # After a new login, this is the end of the login form's redirections: onward from a page.
    return onward(request, target, service.name) if from_new_login else redirect(target)


def _not_allowed(request, url: str) -> HttpResponse:
    if protocol.known_anywhere(url):
        why = (
            "Ce service n'est pas ouvert à votre établissement dans Préau : aucune "
            "connexion ne lui a été transmise. Adressez-vous à la direction de votre "
            "établissement si vous pensez qu'il devrait l'être."
        )
    else:
        why = (
            f"Le service {url[:200]} n'est connu d'aucun établissement de Préau : aucune "
            "connexion ne lui a été transmise. Vérifiez le lien qui vous a mené ici."
        )
    return _refused(request, 403, "Service non autorisé", why)


@require_GET
@never_cache
def service_validate(request):
    """/serviceValidate and /p3/serviceValidate: the XML answer of the protocol (CAS 2.0
    clients ignore the attributes)."""
    try:
        found, membership = protocol.validate(
            request.GET.get("ticket", ""), request.GET.get("service", ""), _flag(request, "renew")
        )
    except protocol.Refusal as refusal:
        body = protocol.failure_xml(refusal)
    else:
        released = protocol.attributes(found.service, membership)
        protocol.log_release(found, membership, released)
        body = protocol.success_xml(found, released)
    return HttpResponse(body, content_type="application/xml; charset=utf-8")


@require_GET
@never_cache
def logout_view(request):
    """Ends the Préau session (the protocol's logout is a GET: a link from the service), then
    back to the service when some establishment allows it, else to the login page."""
    logout(request)
    url = request.GET.get("service", "")
    if url and not protocol.url_problem(url) and protocol.known_anywhere(url):
        return redirect(url)
    messages.info(request, "Vous êtes déconnecté.")
    return redirect("login")
