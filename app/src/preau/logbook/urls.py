"""Cahier de textes: pages under /e/<uai>/ (included by preau.urls, guarded by TenantMiddleware)."""

from django.urls import path

from preau.logbook import views

urlpatterns = [
    path("cahier-de-textes/", views.logbook, name="logbook"),
    path("cahier-de-textes/nouvelle-seance/", views.logbook_new, name="logbook_new"),
    path(
        "cahier-de-textes/seances/<int:entry_id>/modifier/",
        views.logbook_entry_edit,
        name="logbook_entry_edit",
    ),
    path(
        "cahier-de-textes/seances/<int:entry_id>/supprimer/",
        views.logbook_entry_delete,
        name="logbook_entry_delete",
    ),
    path("cahier-de-textes/classes/<int:class_id>/", views.logbook_class, name="logbook_class"),
    path("cahier-de-textes/devoirs/<int:homework_id>/", views.homework, name="homework"),
]
