"""Documents: pages under /e/<uai>/ (included by preau.urls, guarded by TenantMiddleware)."""

from django.urls import path

from preau.documents import views

urlpatterns = [
    path("documents/", views.documents, name="documents"),
    path("documents/nouveau/", views.document_new, name="document_new"),
    path("documents/<int:document_id>/modifier/", views.document_edit, name="document_edit"),
    path("documents/<int:document_id>/supprimer/", views.document_delete, name="document_delete"),
]
