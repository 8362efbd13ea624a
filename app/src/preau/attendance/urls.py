"""Vie scolaire: pages under /e/<uai>/ (included by preau.urls, guarded by TenantMiddleware)."""

from django.urls import path

from preau.attendance import views

urlpatterns = [
    path("vie-scolaire/", views.attendance, name="attendance"),
    path("vie-scolaire/appel/<int:class_id>/", views.roll_call, name="roll_call"),
    path(
        "vie-scolaire/absences/<int:absence_id>/justifier/",
        views.absence_justify,
        name="absence_justify",
    ),
    path(
        "vie-scolaire/absences/<int:absence_id>/valider/",
        views.absence_validate,
        name="absence_validate",
    ),
    path(
        "vie-scolaire/appels/<int:slot_id>/relancer/",
        views.roll_call_reminder,
        name="roll_call_reminder",
    ),
    path(
        "vie-scolaire/appel/<int:class_id>/exclusion-ou-infirmerie/",
        views.incident_new,
        name="incident_new",
    ),
    path(
        "vie-scolaire/exclusions-et-infirmerie/<int:incident_id>/supprimer/",
        views.incident_delete,
        name="incident_delete",
    ),
    path("vie-scolaire/eleves/<int:user_id>/", views.student_attendance, name="student_attendance"),
]
