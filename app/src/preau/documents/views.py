"""Course material per class and subject, and the one download view for every stored file."""
from django.contrib import messages
from django.db.models import Q
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from preau.core.prepared import PreparedQuery
from preau.ent import files
from preau.ent.access import profiles, require, viewer
from preau.ent.forms import DocumentForm
from preau.ent.models import Document, Message, SpacePost, StoredFile, Submission
from preau.ent.views.common import PreparedPages, back
from preau.ent.views.spaces import space_class_ids


def _documents(est):
    return Document.objects.filter(establishment_id=est).select_related("class_group", "subject", "file", "author")


# The documents page, compiled once (preau.core.prepared): every class (direction, vie scolaire)
# or the classes the member sees.
ALL_DOCUMENTS = PreparedPages(_documents, est=int)
CLASS_DOCUMENTS = PreparedPages(lambda est, classes: _documents(est).filter(class_group_id__any=classes),
                                est=int, classes=list)


@profiles("ELV", "TUT", "ENS", "DIR", "EVS")
def documents(request, uai):
    me = viewer(request)
    class_ids = me.visible_class_ids()
    if class_ids is None:
        page = ALL_DOCUMENTS.page(request, est=request.establishment.pk)
    else:
        page = CLASS_DOCUMENTS.page(request, est=request.establishment.pk, classes=sorted(class_ids))
    return render(request, "ent/documents.html", {"page": page, "can_upload": me.profile == "ENS"})


@profiles("ENS")
def document_new(request, uai):
    me = viewer(request)
    form = DocumentForm(request.POST or None, request.FILES or None, taught=me.taught())
    if request.method == "POST" and form.is_valid():
        teaching = form.cleaned_data["teaching"]
        with files.atomic_upload(form, "file"):
            stored = files.store(request.establishment, form.cleaned_data["file"], request.user)
            Document.objects.create(establishment=request.establishment, class_group=teaching.class_group,
                                    subject=teaching.subject, title=form.cleaned_data["title"],
                                    description=form.cleaned_data["description"], file=stored,
                                    author=request.user)
        if not form.errors:
            messages.success(request, "Document déposé.")
            return back(request, "documents")
    return render(request, "ent/form_page.html", {
        "form": form, "title": "Déposer un document", "submit": "Déposer", "multipart": True,
        "back_url": reverse("documents", kwargs={"uai": uai})}, status=400 if request.method == "POST" else 200)


# A course document's download (most downloads), compiled once (preau.core.prepared): the file,
# then whether it is a document of a class the member sees; scoped to the establishment.
STORED_FILE = PreparedQuery(lambda est, pk: StoredFile.objects.filter(establishment_id=est, pk=pk)[:1],
                            est=int, pk=int)
DOCUMENT_IN_CLASSES = PreparedQuery(lambda est, file, classes: Document.objects.filter(
    establishment_id=est, file_id=file, class_group_id__any=classes).values_list("pk")[:1],
    est=int, file=int, classes=list)


def can_download(request, stored: StoredFile) -> bool:
    """A file is readable only by its uploader and by whoever may read the object that holds it.

    Direction and vie scolaire get no more here than their pages give them: they see every
    class's documents and spaces, but private messages and hand-ins stay with their readers."""
    if stored.uploaded_by_id == request.user.pk:
        return True
    return any(reads(request, stored) for reads in (_reads_document, _reads_submission, _reads_attachment,
                                                     _reads_space_file))


def _reads_document(request, stored) -> bool:
    """A course document: its audience, as the documents page decides (every class for the
    direction and the vie scolaire, else the classes the member sees)."""
    class_ids = viewer(request).visible_class_ids()
    if class_ids is None:
        return Document.objects.for_request(request).filter(file=stored).exists()
    return bool(DOCUMENT_IN_CLASSES.rows(est=request.establishment.pk, file=stored.pk, classes=sorted(class_ids)))


def _reads_submission(request, stored) -> bool:
    """A hand-in: the homework's teacher, the pupil who handed it in and that pupil's legal
    guardians."""
    students = viewer(request).student_ids()
    return Submission.objects.for_request(request).filter(file=stored).filter(
        Q(homework__teacher=request.user) | Q(student_id__in=students)).exists()


def _reads_attachment(request, stored) -> bool:
    """A message attachment: the conversation's participants."""
    return Message.objects.for_request(request).filter(
        attachment=stored, conversation__participants__user=request.user).exists()


def _reads_space_file(request, stored) -> bool:
    """A file posted in a class or group space: the members of that space."""
    spaces = space_class_ids(request)
    posts = SpacePost.objects.for_request(request).filter(file=stored)
    return posts.exists() if spaces is None else posts.filter(class_group_id__in=spaces).exists()


def file_download(request, uai, file_id):
    stored = STORED_FILE.first(est=request.establishment.pk, pk=file_id)
    if stored is None:
        raise Http404
    require(can_download(request, stored))
    return files.download_response(stored)
