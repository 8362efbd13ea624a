import importlib

from django.urls import path


def lazy_view(name: str, csrf_exempt: bool = False, module: str = "preau.federation.views"):
    """`module`'s view `name`, imported at the first federated request only: pysaml2
    builds its schemas at import (~0.5 s, ~30 MB a process), which the URLconf's loading would
    otherwise cost every web worker, job worker and `preau-manage` command. `csrf_exempt` is
    read by the CSRF middleware on this function (the IdP's messages are cross-site)."""

    def view(request, *args, **kwargs):
        return getattr(importlib.import_module(module), name)(request, *args, **kwargs)

    view.__name__ = view.__qualname__ = name
    view.csrf_exempt = csrf_exempt  # type: ignore[attr-defined]
    return view


# Global URLs (not under /e/<uai>/): the IdPs know them from our metadata.
urlpatterns = [
    path("connexion/<str:idp>/", lazy_view("login_start"), name="federation_login"),
    path("acs/", lazy_view("acs", csrf_exempt=True), name="federation_acs"),
    path("sls/", lazy_view("sls"), name="federation_sls"),
    path("metadonnees/", lazy_view("metadata"), name="federation_metadata"),
]
