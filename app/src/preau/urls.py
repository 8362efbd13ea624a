from django.urls import include, path

from preau.core import views
from preau.ent.urls import urlpatterns as service_patterns

handler400 = "preau.core.errors.handler400"
handler403 = "preau.core.errors.handler403"
handler404 = "preau.core.errors.handler404"
handler500 = "preau.core.errors.handler500"

establishment_patterns = service_patterns + [
    path("annuaire/", views.directory, name="directory"),
    path("annuaire/<int:user_id>/", views.directory_user, name="directory_user"),
    path("annuaire/<int:user_id>/code/", views.directory_reset_code, name="directory_reset_code"),
    path("annuaire/<int:user_id>/desactiver/", views.directory_disable, name="directory_disable"),
    path("annuaire/<int:user_id>/reactiver/", views.directory_enable, name="directory_enable"),
    path("classes/", views.class_list, name="class_list"),
    path("classes/<int:class_id>/", views.class_detail, name="class_detail"),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("", views.home, name="home"),
    path("connexion/", views.login_view, name="login"),
    path("deconnexion/", views.logout_view, name="logout"),
    path("activation/", views.activation_view, name="activation"),
    # Every establishment page lives under /e/<uai>/: TenantMiddleware guards them all.
    path("e/<str:uai>/", include(establishment_patterns)),
]
