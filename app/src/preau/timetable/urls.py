"""Emploi du temps: pages under /e/<uai>/ (included by preau.urls, guarded by TenantMiddleware)."""

from django.urls import path

from preau.timetable import feed, views

urlpatterns = [
    path("emploi-du-temps/", views.timetable, name="timetable"),
    path("emploi-du-temps/classes/<int:class_id>/", views.timetable_class, name="timetable_class"),
    path("emploi-du-temps/agenda/", feed.feed_page, name="timetable_feed"),
    path("emploi-du-temps/import/", views.timetable_import, name="timetable_import"),
    path(
        "emploi-du-temps/import/<int:import_id>/",
        views.timetable_import_status,
        name="timetable_import_status",
    ),
    path("emploi-du-temps/cours/nouveau/", views.timetable_slot_new, name="timetable_slot_new"),
    path(
        "emploi-du-temps/cours/<int:slot_id>/",
        views.timetable_slot_edit,
        name="timetable_slot_edit",
    ),
    path(
        "emploi-du-temps/cours/<int:slot_id>/modification/",
        views.timetable_change,
        name="timetable_change",
    ),
    path(
        "emploi-du-temps/cours/<int:slot_id>/supprimer/",
        views.timetable_slot_delete,
        name="timetable_slot_delete",
    ),
]
