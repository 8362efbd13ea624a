"""Course material per class and subject (downloaded through preau.ent.views.files)."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from preau.core.prepared import PreparedQuery
from preau.documents.forms import DocumentEditForm, DocumentForm
from preau.documents.models import Document
from preau.ent import files
from preau.ent.access import profiles, require, viewer
from preau.ent.views.common import PreparedPages, back, confirm_page, form_page


def _documents(est):
    return Document.objects.filter(establishment_id=est).select_related(
        "class_group", "subject", "file", "author"
    )


# The documents page, compiled once (preau.core.prepared): every class (direction, vie scolaire)
# or the classes the member sees.
ALL_DOCUMENTS = PreparedPages(_documents, est=int)
CLASS_DOCUMENTS = PreparedPages(
    lambda est, classes: _documents(est).filter(class_group_id__any=classes), est=int, classes=list
)


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def documents(request, uai):
    me = viewer(request)
    class_ids = me.visible_class_ids()
    if class_ids is None:
        page = ALL_DOCUMENTS.page(request, est=request.establishment.pk)
    else:
        page = CLASS_DOCUMENTS.page(
            request, est=request.establishment.pk, classes=sorted(class_ids)
        )
    return render(
        request, "documents/documents.html", {"page": page, "can_upload": me.profile == "ENS"}
    )


@profiles("ENS")
def document_new(request, uai):
    me = viewer(request)
    form = DocumentForm(request.POST or None, request.FILES or None, taught=me.taught())
    if request.method == "POST" and form.is_valid():
        teaching = form.cleaned_data["teaching"]
        with files.atomic_upload(form, "file"):
            stored = files.store(request.establishment, form.cleaned_data["file"], request.user)
            Document.objects.create(
                establishment=request.establishment,
                class_group=teaching.class_group,
                subject=teaching.subject,
                title=form.cleaned_data["title"],
                description=form.cleaned_data["description"],
                file=stored,
                author=request.user,
            )
        if not form.errors:
            messages.success(request, "Document déposé.")
            return back(request, "documents")
    return render(
        request,
        "ent/form_page.html",
        {
            "form": form,
            "title": "Déposer un document",
            "submit": "Déposer",
            "multipart": True,
            "back_url": reverse("documents", kwargs={"uai": uai}),
        },
        status=400 if request.method == "POST" else 200,
    )


def _own_document(request, document_id):
    """A document for its author only (the teacher's course material, as in Pronote)."""
    item = get_object_or_404(_documents(request.establishment.pk), pk=document_id)
    require(item.author_id == request.user.pk)
    return item


@profiles("ENS")
def document_edit(request, uai, document_id):
    item = _own_document(request, document_id)
    initial = {"title": item.title, "description": item.description}
    form = DocumentEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        item.title, item.description = form.cleaned_data["title"], form.cleaned_data["description"]
        item.save(update_fields=["title", "description"])
        messages.success(request, "Document modifié.")
        return back(request, "documents")
    return form_page(
        request, form, "Modifier le document", "Enregistrer les modifications", "documents"
    )


@profiles("ENS")
def document_delete(request, uai, document_id):
    """A confirmation page (GET), then the deletion (POST); the stored file goes with the
    orphans' purge (preau.ent.files.purge_orphans)."""
    item = _own_document(request, document_id)
    if request.method == "POST":
        item.delete()
        messages.success(request, "Document supprimé.")
        return back(request, "documents")
    return confirm_page(
        request,
        "Supprimer un document",
        f"Supprimer le document « {item.title} » ({item.file.name}) de "
        f"{item.class_group.name} ? Les élèves ne pourront plus le télécharger.",
        "Supprimer le document",
        "documents",
    )


# Whether a file is a document of a class the member sees (most downloads: preau.ent.views.files),
# compiled once (preau.core.prepared), scoped to the establishment.
DOCUMENT_IN_CLASSES = PreparedQuery(
    lambda est, file, classes: Document.objects.filter(
        establishment_id=est, file_id=file, class_group_id__any=classes
    ).values_list("pk")[:1],
    est=int,
    file=int,
    classes=list,
)


def reads_document(request, stored) -> bool:
    """A course document: its audience, as the documents page decides (every class for the
    direction and the vie scolaire, else the classes the member sees)."""
    class_ids = viewer(request).visible_class_ids()
    if class_ids is None:
        return Document.objects.for_request(request).filter(file=stored).exists()
    return bool(
        DOCUMENT_IN_CLASSES.rows(
            est=request.establishment.pk, file=stored.pk, classes=sorted(class_ids)
        )
    )
