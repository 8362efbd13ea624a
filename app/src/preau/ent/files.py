"""File contents in PostgreSQL, in chunks: all app servers see them, pgBackRest backs them up,
and downloads stream chunk by chunk (memory stays flat whatever the file size)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from contextlib import contextmanager
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, ForeignObjectRel, OuterRef, Sum
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header

from preau.core.prepared import PreparedQuery
from preau.ent import antivirus
from preau.ent.models import JPEG_FOR, FileChunk, StoredFile

logger = logging.getLogger(__name__)

CHUNK_SIZE = 512 * 1024
# The type comes from the extension we accept, never from the browser.
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "txt": "text/plain",
    "csv": "text/csv",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "heic": "image/heic",  # phones' photos: a JPEG is made for viewing (RENDERED)
    "heif": "image/heif",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "zip": "application/zip",
}
ACCEPT = ",".join(f".{ext}" for ext in CONTENT_TYPES)
# Shown in the page (Content-Disposition: inline): raster images only, which a browser never
# runs. Everything else (PDF and its scripts, office files, text) is downloaded (attachment).
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif"}
# Images the make_renditions job reads (preau.ent.renditions): a preview for each, and a JPEG
# for the HEIC/HEIF photos (models.JPEG_FOR) that a school PC's browser would not show.
RENDERED = INLINE_TYPES | JPEG_FOR
# The phones' containers (ISO base media file format, QuickTime's for .mov): the file must
# start with an `ftyp` box naming one of these brands (major or compatible), else it is
# refused; old QuickTime files may start with another atom instead (MOV_FIRST_ATOMS).
BRANDS = {
    "heic": {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"},
    "m4a": {b"M4A ", b"M4B ", b"M4P ", b"mp41", b"mp42", b"isom", b"iso2", b"dash"},
    "mov": {b"qt  "},
}
BRANDS["heif"] = BRANDS["heic"]
MOV_FIRST_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


class Refused(ValidationError):
    """An upload refused (type, size, quota, antivirus): the message is for the user's form."""


def max_bytes() -> int:
    return settings.PREAU_UPLOAD_MAX_BYTES


def size_label(size: int) -> str:
    if size >= 1024**3:
        return f"{size / 1024**3:.1f} Go".replace(".", ",")
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} Mo".replace(".", ",")
    return f"{max(1, round(size / 1024))} ko"


def validate_upload(uploaded, types: dict[str, str] = CONTENT_TYPES) -> None:
    """Size and type limits, then the antivirus (once per upload), with French messages for the
    form. `types`: the extensions accepted and their types (a timetable import takes its own)."""
    ext = PurePath(uploaded.name).suffix.lower().lstrip(".")
    if ext not in types:
        raise Refused("Type de fichier non accepté (acceptés : " + ", ".join(sorted(types)) + ").")
    if uploaded.size > max_bytes():
        raise Refused(
            f"Fichier trop volumineux ({size_label(uploaded.size)}) : "
            f"{size_label(max_bytes())} au maximum."
        )
    if uploaded.size == 0:
        raise Refused("Le fichier est vide.")
    if ext in BRANDS and not _container_matches(uploaded, ext):
        raise Refused(
            f"Ce fichier n'est pas un vrai fichier .{ext} (son contenu ne correspond pas à son "
            "extension) : il n'a pas été enregistré. Envoyez-le tel que le téléphone l'a fait."
        )
    if antivirus.enabled() and not getattr(uploaded, "preau_scanned", False):
        _scan(uploaded)
        uploaded.preau_scanned = True


def _container_matches(uploaded, ext: str) -> bool:
    """The ISO-BMFF `ftyp` box at the start: size (4 bytes), b"ftyp", the major brand, a minor
    version (4 bytes), then the compatible brands, each 4 bytes, to the box's end."""
    uploaded.seek(0)
    head = uploaded.read(256)
    uploaded.seek(0)
    if ext == "mov" and head[4:8] in MOV_FIRST_ATOMS:
        return True
    if len(head) < 16 or head[4:8] != b"ftyp":
        return False
    end = min(len(head), max(16, int.from_bytes(head[:4], "big")))
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}
    return bool(brands & BRANDS[ext])


def _scan(uploaded) -> None:
    try:
        threat = antivirus.scan(uploaded.chunks(CHUNK_SIZE))
    except antivirus.Unavailable as exc:
        logger.error("upload refused: antivirus unavailable (%s)", exc)
        raise Refused(
            "L'analyse antivirus est momentanément indisponible : le fichier n'a pas été "
            "enregistré. Réessayez dans quelques minutes."
        ) from None
    if threat:
        logger.warning("upload refused: %s found by the antivirus", threat)
        raise Refused(
            f"Ce fichier contient un virus ou un programme malveillant ({threat}) : "
            "il n'a pas été enregistré."
        )


def _used(**owner) -> int:
    return StoredFile.objects.filter(**owner).aggregate(used=Sum("size"))["used"] or 0


def check_quotas(establishment, user, size: int) -> None:
    """Per user (every file they uploaded) and per establishment (every file it holds)."""
    if user is not None:
        used, limit = _used(uploaded_by=user), settings.PREAU_UPLOAD_USER_QUOTA_BYTES
        if used + size > limit:
            raise Refused(
                f"Espace de stockage de votre compte insuffisant : vos fichiers occupent "
                f"{size_label(used)} sur {size_label(limit)} autorisés, ce fichier "
                f"({size_label(size)}) dépasserait la limite."
            )
    used, limit = (
        _used(establishment=establishment),
        settings.PREAU_UPLOAD_ESTABLISHMENT_QUOTA_BYTES,
    )
    if used + size > limit:
        raise Refused(
            f"Espace de stockage de l'établissement insuffisant : ses fichiers occupent "
            f"{size_label(used)} sur {size_label(limit)} autorisés, ce fichier "
            f"({size_label(size)}) dépasserait la limite. Prévenez la direction."
        )


@contextmanager
def atomic_upload(form, field: str):
    """A view's transaction that stores an upload: if store() refuses it (a quota), everything
    is rolled back and the refusal becomes the form's error on that field (form.errors)."""
    try:
        with transaction.atomic():
            yield
    except Refused as refusal:
        form.add_error(field, refusal)


@transaction.atomic
def store(establishment, uploaded, user, types: dict[str, str] = CONTENT_TYPES) -> StoredFile:
    """Check (type among `types`, size, antivirus, quotas: Refused, nothing stored) and store
    in chunks."""
    validate_upload(uploaded, types)
    check_quotas(establishment, user, uploaded.size)
    name = PurePath(uploaded.name).name
    ext = PurePath(name).suffix.lower().lstrip(".")
    if len(name) > 200:  # shortened, keeping its extension (the type comes from it)
        name = PurePath(name).stem[: 199 - len(ext)] + "." + ext
    stored = _write(establishment, name, types[ext], _pieces(uploaded), user)
    if stored.content_type in RENDERED:
        from preau.ent import renditions

        renditions.ask(stored)
    return stored


@transaction.atomic
def store_generated(establishment, name: str, data: bytes, content_type: str = "") -> StoredFile:
    """A file the platform made (activation letters: preau.ent.letters), private to the
    establishment: no upload checks, no user's quota. `content_type` for a kind nobody may
    upload (the LSU export's XML), else the one of the name's extension."""
    ext = PurePath(name).suffix.lower().lstrip(".")
    pieces = (data[start : start + CHUNK_SIZE] for start in range(0, len(data), CHUNK_SIZE))
    return _write(establishment, name, content_type or CONTENT_TYPES[ext], pieces, None)


def _write(establishment, name: str, content_type: str, pieces, user) -> StoredFile:
    stored = StoredFile.objects.create(
        establishment=establishment,
        name=name,
        content_type=content_type,
        size=0,
        sha256="",
        uploaded_by=user,
    )
    digest, size, index = hashlib.sha256(), 0, 0
    for piece in pieces:
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
CHUNK = PreparedQuery(
    lambda est, file, index: FileChunk.objects.filter(
        file__establishment_id=est, file_id=file, index=index
    ).values_list("data"),
    file=int,
    index=int,
)


def chunks(stored: StoredFile):
    """A stored file's contents, chunk after chunk (the download, an establishment's archive)."""
    for index in range(stored.chunks_count):
        # exactly one row, as .get() demanded
        ((data,),) = CHUNK.rows(est=stored.establishment_id, file=stored.pk, index=index)
        yield bytes(data)


def download_response(stored: StoredFile) -> StreamingHttpResponse:
    """Private files: never kept by a cache (a shared computer's browser, a proxy), never
    sniffed into another type, and downloaded rather than shown unless a raster image."""
    response = StreamingHttpResponse(chunks(stored), content_type=stored.content_type)
    response["Content-Length"] = str(stored.size)
    inline = stored.content_type in INLINE_TYPES
    response["Content-Disposition"] = (
        content_disposition_header(not inline, stored.name) or "attachment"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


def purge_orphans(now=None) -> int:
    """Delete the files nothing references any more (every relation to StoredFile is looked
    at, so a new one counts at once) and older than the grace period, with their renditions;
    return how many."""
    now = now or timezone.now()
    orphans = StoredFile._base_manager.filter(
        uploaded_at__lt=now - dt.timedelta(hours=settings.PREAU_UPLOAD_ORPHAN_GRACE_HOURS)
    )
    for relation in StoredFile._meta.get_fields(include_hidden=True):  # related_name="+" ones too
        if isinstance(relation, ForeignObjectRel) and relation.related_model is not FileChunk:
            referencing = relation.field.model._base_manager.filter(
                **{relation.field.name: OuterRef("pk")}
            )
            orphans = orphans.filter(~Exists(referencing))
    rows = orphans.values_list("pk", "preview_id", "jpeg_id")
    # An orphan's renditions (preau.ent.renditions: held by it alone) go with it.
    ids = sorted({pk for row in rows for pk in row if pk is not None})
    for start in range(0, len(ids), 500):
        StoredFile._base_manager.filter(pk__in=ids[start : start + 500]).delete()
    return len(ids)
