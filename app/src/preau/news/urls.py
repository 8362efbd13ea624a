"""Actualités and resource links: pages under /e/<uai>/ (included by preau.urls, guarded by TenantMiddleware)."""

from django.urls import path

from preau.news import views

urlpatterns = [
    path("actualites/", views.news, name="news"),
    path("ressources/", views.links, name="links"),
]
