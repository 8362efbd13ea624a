"""The médiacentre: a page under /e/<uai>/ (included by preau.urls, guarded by TenantMiddleware)."""

from django.urls import path

from preau.gar import views

urlpatterns = [
    path("mediacentre/", views.mediacentre, name="mediacentre"),
]
