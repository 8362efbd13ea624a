"""French error pages. They are rendered without request context processors so that they
never touch the database (which may be the thing that is down)."""

import sys

from django.db import DatabaseError
from django.http import HttpResponse
from django.template.loader import render_to_string


def _page(
    status: int,
    title: str,
    message: str,
    retry_after: int | None = None,
    refresh: int | None = None,
) -> HttpResponse:
    html = render_to_string(
        "preau/error.html",
        {"status": status, "title": title, "message": message, "refresh": refresh},
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
        "Une erreur inattendue s'est produite. "
        "Elle a été enregistrée ; merci de réessayer plus tard.",
    )


def handler404(request, exception=None) -> HttpResponse:
    return _page(404, "Page introuvable", "Cette page n'existe pas ou vous n'y avez pas accès.")


def handler403(request, exception=None) -> HttpResponse:
    return _page(403, "Accès refusé", "Vous n'avez pas accès à cette page.")


def handler400(request, exception=None) -> HttpResponse:
    return _page(400, "Requête invalide", "La requête n'a pas pu être traitée.")
