"""The one download view for every stored file: each service says who reads the files it holds."""

from django.http import Http404

from preau.core.prepared import PreparedQuery
from preau.documents.views import reads_document
from preau.ent import files
from preau.ent.access import require
from preau.ent.models import StoredFile
from preau.logbook.views import reads_submission
from preau.messaging.views import reads_attachment
from preau.spaces.views import reads_space_file

# The file of a download, compiled once (preau.core.prepared), scoped to the establishment.
STORED_FILE = PreparedQuery(
    lambda est, pk: StoredFile.objects.filter(establishment_id=est, pk=pk)[:1], est=int, pk=int
)
# Who reads a file besides its uploader, most downloads first (course documents).
READERS = (reads_document, reads_submission, reads_attachment, reads_space_file)


def can_download(request, stored: StoredFile) -> bool:
    """A file is readable only by its uploader and by whoever may read the object that holds it.

    Direction and vie scolaire get no more here than their pages give them: they see every
    class's documents and spaces, but private messages and hand-ins stay with their readers."""
    if stored.uploaded_by_id == request.user.pk:
        return True
    return any(reads(request, stored) for reads in READERS)


def file_download(request, uai, file_id):
    stored = STORED_FILE.first(est=request.establishment.pk, pk=file_id)
    if stored is None:
        raise Http404
    require(can_download(request, stored))
    return files.download_response(stored)


def file_rendition(request, uai, file_id, kind):
    """An image's preview or a HEIC photo's JPEG (preau.ent.renditions), read by whoever
    reads the original: its own access check, then the rendition if it was made."""
    stored = STORED_FILE.first(est=request.establishment.pk, pk=file_id)
    if stored is None:
        raise Http404
    require(can_download(request, stored))
    made_id = stored.preview_id if kind == "preview" else stored.jpeg_id
    made = made_id and STORED_FILE.first(est=request.establishment.pk, pk=made_id)
    if not made:
        raise Http404
    return files.download_response(made)
