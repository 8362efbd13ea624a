"""The shared pages under /e/<uai>/: the dashboard, file downloads, notifications and their
settings (included by preau.urls with each service's own urls, guarded by TenantMiddleware)."""

from django.urls import path

from preau.ent.views import dashboard, files, notifications

urlpatterns = [
    path("", dashboard.dashboard, name="establishment_home"),
    path("fichiers/<int:file_id>/", files.file_download, name="file_download"),
    path("notifications/", notifications.notifications, name="notifications"),
    path(
        "mes-preferences/", notifications.notification_preferences, name="notification_preferences"
    ),
    path("parametres/heures-calmes/", notifications.quiet_hours_settings, name="quiet_hours"),
]
