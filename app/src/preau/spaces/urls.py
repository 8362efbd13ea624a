"""Espaces: pages under /e/<uai>/ (included by preau.urls, guarded by TenantMiddleware)."""

from django.urls import path

from preau.spaces import views

urlpatterns = [
    path("espaces/", views.spaces, name="spaces"),
    path("espaces/<int:class_id>/", views.space, name="space"),
    path("espaces/discussions/<int:post_id>/", views.space_thread, name="space_thread"),
]
