"""Service pages, all under /e/<uai>/ (included by preau.urls, guarded by TenantMiddleware)."""
from django.urls import path

from preau.ent.views import attendance, community, dashboard, documents, grades, logbook, messaging, spaces, timetable

urlpatterns = [
    path("", dashboard.dashboard, name="establishment_home"),
    path("vie-scolaire/", attendance.attendance, name="attendance"),
    path("vie-scolaire/appel/<int:class_id>/", attendance.roll_call, name="roll_call"),
    path("vie-scolaire/absences/<int:absence_id>/justifier/", attendance.absence_justify, name="absence_justify"),
    path("vie-scolaire/absences/<int:absence_id>/valider/", attendance.absence_validate, name="absence_validate"),
    path("vie-scolaire/eleves/<int:user_id>/", attendance.student_attendance, name="student_attendance"),
    path("notes/", grades.grades, name="grades"),
    path("notes/nouvelle/", grades.assessment_new, name="assessment_new"),
    path("notes/evaluations/<int:assessment_id>/", grades.assessment, name="assessment"),
    path("notes/classes/<int:class_id>/", grades.class_grades, name="class_grades"),
    path("cahier-de-textes/", logbook.logbook, name="logbook"),
    path("cahier-de-textes/nouvelle-seance/", logbook.logbook_new, name="logbook_new"),
    path("cahier-de-textes/classes/<int:class_id>/", logbook.logbook_class, name="logbook_class"),
    path("cahier-de-textes/devoirs/<int:homework_id>/", logbook.homework, name="homework"),
    path("emploi-du-temps/", timetable.timetable, name="timetable"),
    path("emploi-du-temps/classes/<int:class_id>/", timetable.timetable_class, name="timetable_class"),
    path("emploi-du-temps/import/", timetable.timetable_import, name="timetable_import"),
    path("documents/", documents.documents, name="documents"),
    path("documents/nouveau/", documents.document_new, name="document_new"),
    path("fichiers/<int:file_id>/", documents.file_download, name="file_download"),
    path("messagerie/", messaging.inbox, name="messages"),
    path("messagerie/nouveau/", messaging.compose, name="message_new"),
    path("messagerie/<int:conversation_id>/", messaging.conversation, name="conversation"),
    path("espaces/", spaces.spaces, name="spaces"),
    path("espaces/<int:class_id>/", spaces.space, name="space"),
    path("espaces/discussions/<int:post_id>/", spaces.space_thread, name="space_thread"),
    path("actualites/", community.news, name="news"),
    path("ressources/", community.links, name="links"),
    path("notifications/", community.notifications, name="notifications"),
    path("parametres/heures-calmes/", community.quiet_hours_settings, name="quiet_hours"),
]
