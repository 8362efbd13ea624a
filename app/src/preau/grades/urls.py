"""Notes: pages under /e/<uai>/ (included by preau.urls, guarded by TenantMiddleware)."""

from django.urls import path

from preau.grades import views

urlpatterns = [
    path("notes/", views.grades, name="grades"),
    path("notes/nouvelle/", views.assessment_new, name="assessment_new"),
    path("notes/evaluations/<int:assessment_id>/", views.assessment, name="assessment"),
    path(
        "notes/evaluations/<int:assessment_id>/modifier/",
        views.assessment_edit,
        name="assessment_edit",
    ),
    path(
        "notes/evaluations/<int:assessment_id>/supprimer/",
        views.assessment_delete,
        name="assessment_delete",
    ),
    path("notes/classes/<int:class_id>/", views.class_grades, name="class_grades"),
    path("notes/periodes/", views.period_settings, name="period_settings"),
    path("notes/periodes/<int:period_id>/publier/", views.period_publish, name="period_publish"),
    path("notes/periodes/<int:period_id>/lsu/", views.period_lsu, name="period_lsu"),
    path(
        "notes/periodes/<int:period_id>/lsu/fichier/",
        views.period_lsu_file,
        name="period_lsu_file",
    ),
    path(
        "notes/classes/<int:class_id>/matieres/<int:subject_id>/periodes/<int:period_id>/",
        views.period_subject,
        name="period_subject",
    ),
    path(
        "notes/classes/<int:class_id>/periodes/<int:period_id>/conseil/",
        views.class_council,
        name="class_council",
    ),
    path(
        "notes/classes/<int:class_id>/periodes/<int:period_id>/socle/",
        views.class_socle,
        name="class_socle",
    ),
    path(
        "notes/classes/<int:class_id>/periodes/<int:period_id>/bulletins/",
        views.class_bulletins,
        name="class_bulletins",
    ),
    path(
        "notes/classes/<int:class_id>/periodes/<int:period_id>/bulletins/pdf/",
        views.class_bulletins_file,
        name="class_bulletins_file",
    ),
    path("notes/releve/<int:period_id>/", views.period_summary, name="period_summary"),
    path(
        "notes/eleves/<int:user_id>/releve/<int:period_id>/",
        views.student_period_summary,
        name="student_period_summary",
    ),
    path("notes/releve/<int:period_id>/bulletin/", views.bulletin_file, name="bulletin_file"),
]
