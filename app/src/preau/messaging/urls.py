"""Messagerie: pages under /e/<uai>/ (included by preau.urls, guarded by TenantMiddleware)."""

from django.urls import path

from preau.messaging import views

urlpatterns = [
    path("messagerie/", views.inbox, name="messages"),
    path("messagerie/nouveau/", views.compose, name="message_new"),
    path("messagerie/<int:conversation_id>/", views.conversation, name="conversation"),
    path(
        "messagerie/<int:conversation_id>/supprimer/",
        views.conversation_hide,
        name="conversation_hide",
    ),
    path("messagerie/groupes/<int:broadcast_id>/", views.broadcast, name="broadcast"),
    path(
        "messagerie/messages/<int:message_id>/signaler/",
        views.message_report,
        name="message_report",
    ),
    path("messagerie/moderation/", views.moderation, name="moderation"),
    path(
        "messagerie/signalements/<int:report_id>/",
        views.report_resolve,
        name="report_resolve",
    ),
]
