from django.urls import path

from preau.federation import views

# Global URLs (not under /e/<uai>/): the IdPs know them from our metadata.
urlpatterns = [
    path("connexion/<str:idp>/", views.login_start, name="federation_login"),
    path("acs/", views.acs, name="federation_acs"),
    path("sls/", views.sls, name="federation_sls"),
    path("metadonnees/", views.metadata, name="federation_metadata"),
]
