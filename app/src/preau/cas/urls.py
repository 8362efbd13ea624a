from django.urls import path

from preau.cas import views

# Included under /cas/ by preau.urls: the paths of the CAS 3.0 protocol.
urlpatterns = [
    path("login", views.login, name="cas_login"),
    path("logout", views.logout_view, name="cas_logout"),
    path("serviceValidate", views.service_validate, name="cas_service_validate"),
    path("p3/serviceValidate", views.service_validate, name="cas_p3_service_validate"),
]
