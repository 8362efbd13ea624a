"""What is made from an uploaded image, by a background job (make_renditions, never in the web
request): a JPEG of a phone's HEIC/HEIF photo (a school PC's browser does not open HEIC; the
original stays, downloaded as it was sent) and a small JPEG preview (PREVIEW_SIDE) for the
lists. Both are private files of the establishment held by the original (StoredFile.jpeg,
StoredFile.preview): served through the original's own access check (ent.views.files).

An image Pillow cannot read (truncated, corrupt, not an image) or larger than Pillow's
MAX_IMAGE_PIXELS (a decompression bomb) is marked failed: the pages say the preview could
not be made, the original stays downloadable; the job itself succeeds (a user's bad file is
no operator's alert) and logs it."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import PurePath

from django.db import transaction

from preau.ent import files
from preau.ent.models import StoredFile

logger = logging.getLogger(__name__)

PREVIEW_SIDE = 320
# Below Pillow's MAX_IMAGE_PIXELS (89 million): a phone's largest photos (48 MP) pass, and
# the decoded image stays within the worker's memory (app_memory_max, 512M in the lab).
MAX_PIXELS = 50_000_000
JPEG_QUALITY = 85
PENDING, DONE, FAILED = "pending", "done", "failed"


def ask(stored: StoredFile) -> None:
    """Mark an image's renditions pending and defer their job, in the caller's transaction
    (files.store(): the job exists only if the upload is committed)."""
    from preau.jobs.queue import enqueue

    stored.renditions = PENDING
    stored.save(update_fields=["renditions"])
    enqueue("make_renditions", establishment_uai=stored.establishment.uai, file_id=stored.pk)


class Unreadable(Exception):
    """Not an image Pillow can decode within its limits."""


def _decode(data: bytes):
    from PIL import Image, ImageOps
    from pillow_heif import register_heif_opener

    register_heif_opener()
    try:
        with warnings.catch_warnings():
            # Over MAX_IMAGE_PIXELS Pillow only warns (an error over twice that): refused too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            if opened.width * opened.height > MAX_PIXELS:
                raise Unreadable(f"{opened.width}x{opened.height} pixels (max {MAX_PIXELS})")
            opened.load()
            image = ImageOps.exif_transpose(opened)
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                rgba = image.convert("RGBA")  # transparent parts on white, not black
                flat = Image.new("RGB", rgba.size, "white")
                flat.paste(rgba, mask=rgba.getchannel("A"))
                return flat
            return image.convert("RGB")
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombWarning) as exc:
        raise Unreadable(f"{type(exc).__name__}: {exc}") from exc
    except Image.DecompressionBombError as exc:
        raise Unreadable(f"DecompressionBombError: {exc}") from exc


def _jpeg(image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def make(file_id: int) -> dict:
    """The job's work for one file, in one transaction; a file already done (a job taken
    again) or gone is left alone."""
    with transaction.atomic():
        stored = StoredFile.objects.select_for_update().filter(pk=file_id).first()
        if stored is None or stored.renditions != PENDING:
            return {"file": file_id, "status": stored.renditions if stored else "gone"}
        try:
            image = _decode(b"".join(files.chunks(stored)))
        except Unreadable as exc:
            logger.warning("renditions of file %s (%s) not made: %s", file_id, stored.name, exc)
            stored.renditions = FAILED
            stored.save(update_fields=["renditions"])
            return {"file": file_id, "status": FAILED, "error": str(exc)[:200]}
        stem = PurePath(stored.name).stem
        if stored.converted_to_jpeg:
            stored.jpeg = files.store_generated(stored.establishment, f"{stem}.jpg", _jpeg(image))
        image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
        stored.preview = files.store_generated(
            stored.establishment, f"{stem}-apercu.jpg", _jpeg(image)
        )
        stored.renditions = DONE
        stored.save(update_fields=["jpeg", "preview", "renditions"])
        return {
            "file": file_id,
            "status": DONE,
            "jpeg": stored.jpeg_id,
            "preview": stored.preview_id,
        }
