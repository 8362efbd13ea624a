from django.urls import include, path

from preau.core import views
from preau.ent.apps import SERVICE_APPS
from preau.timetable import feed
from preau.twofactor import views as twofactor_views

handler400 = "preau.core.errors.handler400"
handler403 = "preau.core.errors.handler403"
handler404 = "preau.core.errors.handler404"
handler500 = "preau.core.errors.handler500"

# The services' pages (preau.ent's shared ones, then one app per service), each app with its
# own urls.py; French paths and URL names as before the split (no namespaces).
establishment_patterns = [path("", include(f"preau.{app}.urls")) for app in SERVICE_APPS] + [
    path("annuaire/", views.directory, name="directory"),
    path("annuaire/<int:user_id>/", views.directory_user, name="directory_user"),
    path("annuaire/<int:user_id>/code/", views.directory_reset_code, name="directory_reset_code"),
    path("annuaire/<int:user_id>/desactiver/", views.directory_disable, name="directory_disable"),
    path("annuaire/<int:user_id>/reactiver/", views.directory_enable, name="directory_enable"),
    path("classes/", views.class_list, name="class_list"),
    path("classes/<int:class_id>/", views.class_detail, name="class_detail"),
    # The médiacentre (preau.gar): not a service app (no row of it is folded by a merge).
    path("", include("preau.gar.urls")),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("", views.home, name="home"),
    # A user's timetable as iCalendar, for a phone's calendar: no session, the token is the key
    # (preau.timetable.feed); masked in the access logs.
    path("calendrier/<str:token>.ics", feed.calendar_feed, name="calendar_feed"),
    path("connexion/", views.login_view, name="login"),
    path("deconnexion/", views.logout_view, name="logout"),
    path("activation/", views.activation_view, name="activation"),
    # ÉduConnect and the académie's agents IdP (preau.federation: SAML 2.0 service provider).
    path("federation/", include("preau.federation.urls")),
    # Préau as the GAR's identity provider (preau.gar: SAML 2.0 IdP), global like the SP's URLs.
    path("federation/gar/", include("preau.gar.idp_urls")),
    # Second factor of ADMC and ADML (preau.twofactor): global, like the login.
    path("compte/double-authentification/", twofactor_views.verify, name="two_factor_verify"),
    path("compte/double-authentification/activer/", twofactor_views.setup, name="two_factor_setup"),
    path("compte/mot-de-passe/", views.password_change, name="password_change"),
    path("mot-de-passe-oublie/", views.password_reset, name="password_reset"),
    path(
        "mot-de-passe-oublie/<str:uidb64>/<str:token>/",
        views.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path("compte/adresse/", views.email_settings, name="email_settings"),
    path("compte/adresse/confirmer/<str:token>/", views.email_confirm, name="email_confirm"),
    path("compte/securite/", twofactor_views.security, name="account_security"),
    path(
        "compte/securite/codes-de-secours/", twofactor_views.regenerate_codes, name="recovery_codes"
    ),
    # Préau as a CAS 3.0 server (preau.cas): the protocol's paths, global like the login.
    path("cas/", include("preau.cas.urls")),
    # The platform operators' console (preau.console): establishments, accounts, statistics.
    path("console/", include("preau.console.urls")),
    # Every establishment page lives under /e/<uai>/: TenantMiddleware guards them all.
    path("e/<str:uai>/", include(establishment_patterns)),
]
