"""File contents in PostgreSQL, in chunks: all app servers see them, pgBackRest backs them up,
and downloads stream chunk by chunk (memory stays flat whatever the file size)."""
from __future__ import annotations

import hashlib
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

from preau.core.prepared import PreparedQuery
from preau.ent.models import FileChunk, StoredFile

CHUNK_SIZE = 512 * 1024
# The type comes from the extension we accept, never from the browser.
CONTENT_TYPES = {
    "pdf": "application/pdf", "txt": "text/plain", "csv": "text/csv",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
    "mp3": "audio/mpeg", "mp4": "video/mp4", "zip": "application/zip",
}
ACCEPT = ",".join(f".{ext}" for ext in CONTENT_TYPES)


def max_bytes() -> int:
    return settings.PREAU_UPLOAD_MAX_BYTES


def size_label(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} Mo".replace(".", ",")
    return f"{max(1, round(size / 1024))} ko"


def validate_upload(uploaded) -> None:
    """Size and type limits, with French messages for the form."""
    ext = PurePath(uploaded.name).suffix.lower().lstrip(".")
    if ext not in CONTENT_TYPES:
        raise ValidationError("Type de fichier non accepté (acceptés : "
                              + ", ".join(sorted(set(CONTENT_TYPES))) + ").")
    if uploaded.size > max_bytes():
        raise ValidationError(f"Fichier trop volumineux ({size_label(uploaded.size)}) : "
                              f"{size_label(max_bytes())} au maximum.")
    if uploaded.size == 0:
        raise ValidationError("Le fichier est vide.")


@transaction.atomic
def store(establishment, uploaded, user) -> StoredFile:
    validate_upload(uploaded)
    name = PurePath(uploaded.name).name[:200]
    ext = PurePath(name).suffix.lower().lstrip(".")
    stored = StoredFile.objects.create(establishment=establishment, name=name,
                                       content_type=CONTENT_TYPES[ext], size=0, sha256="",
                                       uploaded_by=user)
    digest, size, index = hashlib.sha256(), 0, 0
    for piece in _pieces(uploaded):
        FileChunk.objects.create(file=stored, index=index, data=piece)
        digest.update(piece)
        size += len(piece)
        index += 1
    stored.size, stored.sha256, stored.chunks_count = size, digest.hexdigest(), index
    stored.save(update_fields=["size", "sha256", "chunks_count"])
    return stored


def _pieces(uploaded):
    """Re-cut Django's upload chunks into CHUNK_SIZE pieces."""
    buffer = b""
    for part in uploaded.chunks(CHUNK_SIZE):
        buffer += part
        while len(buffer) >= CHUNK_SIZE:
            yield buffer[:CHUNK_SIZE]
            buffer = buffer[CHUNK_SIZE:]
    if buffer:
        yield buffer


# One chunk (a download reads them one at a time), compiled once (preau.core.prepared).
CHUNK = PreparedQuery(lambda file, index: FileChunk.objects.filter(file_id=file, index=index).values_list("data"),
                      file=int, index=int)


def _stream(stored: StoredFile):
    for index in range(stored.chunks_count):
        (data,), = CHUNK.rows(file=stored.pk, index=index)  # exactly one row, as .get() demanded
        yield bytes(data)


def download_response(stored: StoredFile) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_stream(stored), content_type=stored.content_type)
    response["Content-Length"] = str(stored.size)
    response["Content-Disposition"] = content_disposition_header(True, stored.name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response
