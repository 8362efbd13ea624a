"""/federation/gar/…: Préau as the GAR's identity provider (global URLs: the GAR knows them from
our IdP metadata). The views import pysaml2, so they are loaded at the first GAR request only."""

from django.urls import path

from preau.federation.urls import lazy_view

VIEWS = "preau.gar.idp_views"

urlpatterns = [
    path("metadonnees/", lazy_view("metadata", module=VIEWS), name="gar_metadata"),
    path("sso/", lazy_view("sso", csrf_exempt=True, module=VIEWS), name="gar_sso"),
    path("sso/reprise/", lazy_view("sso_resume", module=VIEWS), name="gar_sso_resume"),
]
