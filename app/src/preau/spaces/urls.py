"""Espaces: pages under /e/<uai>/ (included by preau.urls, guarded by TenantMiddleware)."""

from django.urls import path

from preau.spaces import views

urlpatterns = [
    path("espaces/", views.spaces, name="spaces"),
    path("espaces/<int:class_id>/", views.space, name="space"),
    path("espaces/discussions/<int:post_id>/", views.space_thread, name="space_thread"),
    path("espaces/messages/<int:post_id>/modifier/", views.space_post_edit, name="space_post_edit"),
    path(
        "espaces/messages/<int:post_id>/supprimer/",
        views.space_post_delete,
        name="space_post_delete",
    ),
]
