"""French error pages. They are rendered without request context processors so that they
never touch the database (which may be the thing that is down)."""

import re
import sys
from urllib.parse import urlsplit

from django.core.exceptions import DisallowedHost
from django.db import DatabaseError
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.http import url_has_allowed_host_and_scheme

# The establishment's part of a path: /e/<uai>/…
_ESTABLISHMENT_PATH = re.compile(r"^/e/([0-9A-Za-z]{8})/.")


def ways_back(request) -> list[tuple[str, str]]:
    """Where to go from an error page, from the request alone (no database): the previous page
    when it is one of Préau's, the establishment's home when the page was under it, Préau's
    home."""
    if request is None:
        return []
    links = []
    referer = request.META.get("HTTP_REFERER", "")
    try:
        ours = url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()})
    except DisallowedHost:
        ours = False
    if ours and urlsplit(referer).path != request.path:
        links.append((referer, "Revenir à la page précédente"))
    establishment = _ESTABLISHMENT_PATH.match(request.path)
    if establishment:
        links.append((f"/e/{establishment[1]}/", "Accueil de l'établissement"))
    links.append(("/", "Accueil de Préau"))
    return links


def _page(
    status: int,
    title: str,
    message: str,
    retry_after: int | None = None,
    refresh: int | None = None,
    request=None,
) -> HttpResponse:
    html = render_to_string(
        "preau/error.html",
        {
            "status": status,
            "title": title,
            "message": message,
            "refresh": refresh,
            "links": ways_back(request),
        },
    )
    response = HttpResponse(html, status=status, content_type="text/html; charset=utf-8")
    if retry_after:
        response["Retry-After"] = str(retry_after)
    response["Cache-Control"] = "no-store"
    return response


def database_unavailable_response() -> HttpResponse:
    return _page(
        503,
        "Service momentanément indisponible",
        "Préau ne parvient pas à joindre sa base de données. Nos équipes sont prévenues. "
        "Merci de réessayer dans quelques minutes.",
        retry_after=60,
    )


def busy_response() -> HttpResponse:
    return _page(
        503,
        "Préau est très sollicité",
        "Beaucoup d'élèves et de familles se connectent en même temps. Merci de patienter "
        "quelques secondes : la page se rechargera toute seule.",
        retry_after=10,
        refresh=10,
    )


def maintenance_response(message: str = "") -> HttpResponse:
    return _page(
        503,
        "Préau est en maintenance",
        message
        or "Une opération de maintenance est en cours. "
        "Le service sera de retour très bientôt, merci de votre patience.",
        retry_after=300,
    )


def handler500(request) -> HttpResponse:
    # Called inside Django's `except` block: the exception is still in sys.exc_info().
    exc = sys.exc_info()[1]
    if isinstance(exc, DatabaseError):
        return database_unavailable_response()
    return _page(
        500,
        "Erreur interne",
        "Une erreur inattendue s'est produite de notre côté : ce que vous faisiez n'a peut-être "
        "pas été enregistré. L'erreur est enregistrée pour être corrigée ; merci de réessayer "
        "dans quelques minutes.",
        request=request,
    )


def handler404(request, exception=None) -> HttpResponse:
    return _page(
        404,
        "Page introuvable",
        "Cette adresse ne mène à aucune page de Préau, ou ce qu'elle montrait a été supprimé, "
        "ou ne vous est pas accessible. Vérifiez l'adresse, ou repartez d'une page ci-dessous.",
        request=request,
    )


def handler403(request, exception=None) -> HttpResponse:
    return _page(
        403,
        "Accès refusé",
        "Votre compte ne permet pas d'ouvrir cette page : elle est réservée à d'autres profils "
        "ou à d'autres personnes. Si vous pensez qu'elle vous est destinée, adressez-vous à "
        "l'administrateur de Préau de votre établissement.",
        request=request,
    )


def csrf_failure(request, reason="") -> HttpResponse:
    """settings.CSRF_FAILURE_VIEW: a form sent without its valid token, most often a page left
    open past the session or sent again after logging out and in."""
    return _page(
        403,
        "Formulaire expiré",
        "Ce formulaire n'a pas pu être envoyé : la page était trop ancienne ou votre session a "
        "changé entre-temps. Revenez à la page précédente, rechargez-la, puis envoyez à nouveau.",
        request=request,
    )


def handler400(request, exception=None) -> HttpResponse:
    return _page(400, "Requête invalide", "La requête n'a pas pu être traitée.", request=request)
