"""The shared pages under /e/<uai>/: the dashboard, file downloads, notifications and their
settings (included by preau.urls with each service's own urls, guarded by TenantMiddleware)."""

from django.urls import path

from preau.ent.views import dashboard, files, letters, notifications

urlpatterns = [
    path("", dashboard.dashboard, name="establishment_home"),
    path("fichiers/<int:file_id>/", files.file_download, name="file_download"),
    path(
        "fichiers/<int:file_id>/apercu/",
        files.file_rendition,
        {"kind": "preview"},
        name="file_preview",
    ),
    path("fichiers/<int:file_id>/jpeg/", files.file_rendition, {"kind": "jpeg"}, name="file_jpeg"),
    path("notifications/", notifications.notifications, name="notifications"),
    path(
        "mes-preferences/", notifications.notification_preferences, name="notification_preferences"
    ),
    path("parametres/heures-calmes/", notifications.quiet_hours_settings, name="quiet_hours"),
    # Activation letters (preau.ent.letters), beside the directory's pages.
    path("annuaire/lettres/", letters.letters_page, name="letters"),
    path("annuaire/lettres/<int:batch_id>/", letters.letter_batch, name="letter_batch"),
    path(
        "annuaire/lettres/<int:batch_id>/pdf/", letters.letter_batch_file, name="letter_batch_file"
    ),
    path(
        "annuaire/lettres/<int:batch_id>/nouveaux-codes/",
        letters.letter_batch_regenerate,
        name="letter_batch_regenerate",
    ),
]
