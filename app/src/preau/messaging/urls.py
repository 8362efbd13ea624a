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
]
