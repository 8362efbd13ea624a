"""Actualités and resource links: pages under /e/<uai>/ (included by preau.urls, guarded by TenantMiddleware)."""

from django.urls import path

from preau.news import views

urlpatterns = [
    path("actualites/", views.news, name="news"),
    path("actualites/<int:news_id>/modifier/", views.news_edit, name="news_edit"),
    path("actualites/<int:news_id>/supprimer/", views.news_delete, name="news_delete"),
    path("ressources/", views.links, name="links"),
]
