"""Files from phones (issue #19 item 6): HEIC/HEIF photos converted to JPEG by a job, m4a and
mov accepted when their container says so, and the images' previews, served with the
original's own access check."""

import html
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from preau.documents.models import Document
from preau.ent import files, renditions
from preau.ent.models import StoredFile
from tests.school import make_school, url

# ISO-BMFF `ftyp` boxes as phones write them: size, "ftyp", major brand, version, compatibles.
M4A = b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00M4A mp42isom" + b"\x00" * 64
MOV = b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + b"\x00" * 64


def heic(size=(40, 30)) -> bytes:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "HEIF")
    return out.getvalue()


def png(size=(600, 400)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def post_document(client, s, name, content):
    client.force_login(s["teacher"])
    return client.post(
        url(s, "document_new"),
        {
            "teaching": f"{s['class'].pk}:{s['subject'].pk}",
            "title": name,
            "file": SimpleUploadedFile(name, content, content_type="application/octet-stream"),
        },
    )


def text(response) -> str:
    return html.unescape(response.content.decode())


def read(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.fixture
def tx_school(transactional_db):
    return make_school()


def test_a_heic_photo_gets_a_jpeg_of_the_same_size_by_the_job(client, tx_school, run_jobs):
    s, photo = tx_school, heic()
    assert post_document(client, s, "photo.heic", photo).status_code == 302
    stored = Document.objects.get(title="photo.heic").file
    assert (stored.content_type, stored.renditions, stored.jpeg_id) == (
        "image/heic",
        "pending",
        None,
    )
    listing = text(client.get(url(s, "documents")))
    assert "conversion en cours" in listing and "Voir (JPEG)" not in listing

    run_jobs()
    stored.refresh_from_db()
    assert stored.renditions == "done"
    jpeg = client.get(url(s, "file_jpeg", file_id=stored.pk))
    assert jpeg["Content-Type"] == "image/jpeg" and jpeg["Content-Disposition"].startswith("inline")
    image = Image.open(io.BytesIO(read(jpeg)))
    assert (image.format, image.size) == ("JPEG", (40, 30))
    original = client.get(url(s, "file_download", file_id=stored.pk))
    assert read(original) == photo and original["Content-Disposition"].startswith("attachment")
    listing = text(client.get(url(s, "documents")))
    assert "Voir (JPEG)" in listing and url(s, "file_preview", file_id=stored.pk) in listing


def test_a_truncated_heic_fails_cleanly_and_stays_downloadable(client, tx_school, run_jobs):
    s, broken = tx_school, heic()[:200]
    assert post_document(client, s, "casse.heic", broken).status_code == 302
    run_jobs()
    stored = Document.objects.get(title="casse.heic").file
    assert (stored.renditions, stored.jpeg_id, stored.preview_id) == ("failed", None, None)
    listing = client.get(url(s, "documents"))
    assert listing.status_code == 200 and "aperçu impossible" in text(listing)
    assert client.get(url(s, "file_jpeg", file_id=stored.pk)).status_code == 404
    assert read(client.get(url(s, "file_download", file_id=stored.pk))) == broken


def test_a_png_preview_is_made_served_and_private(client, tx_school, run_jobs):
    s = tx_school
    assert post_document(client, s, "schema.png", png()).status_code == 302
    run_jobs()
    stored = Document.objects.get(title="schema.png").file
    assert stored.renditions == "done" and stored.jpeg_id is None
    preview = client.get(url(s, "file_preview", file_id=stored.pk))
    assert preview.status_code == 200 and preview["Cache-Control"] == "no-store"
    image = Image.open(io.BytesIO(read(preview)))
    assert (image.format, image.size) == ("JPEG", (320, 213))
    # Another establishment's user, under their own UAI or under this one: not found.
    b = make_school("B", "0820010R")
    client.force_login(b["teacher"])
    other = url(b, "file_preview", file_id=stored.pk)
    assert client.get(other).status_code == 404
    assert client.get(url(s, "file_preview", file_id=stored.pk)).status_code in (403, 404)


def test_a_transparent_png_preview_is_on_white(school):
    out = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(out, "PNG")
    stored = files.store(school["est"], SimpleUploadedFile("logo.png", out.getvalue()), None)
    renditions.make(stored.pk)
    stored.refresh_from_db()
    preview = Image.open(io.BytesIO(b"".join(files.chunks(stored.preview))))
    assert preview.getpixel((4, 4)) == (255, 255, 255)


def test_a_photo_over_max_pixels_gets_no_preview(school, monkeypatch):
    monkeypatch.setattr(renditions, "MAX_PIXELS", 100 * 99)
    stored = files.store(school["est"], SimpleUploadedFile("grand.png", png((100, 100))), None)
    assert renditions.make(stored.pk)["status"] == "failed"


def test_a_decompression_bomb_gets_no_preview(school, settings, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    stored = files.store(school["est"], SimpleUploadedFile("grand.png", png((100, 100))), None)
    assert stored.renditions == "pending"
    assert renditions.make(stored.pk)["status"] == "failed"
    stored.refresh_from_db()
    assert (stored.renditions, stored.preview_id) == ("failed", None)


@pytest.mark.parametrize(
    ("name", "content", "accepted"),
    [
        ("notes.heic", b"juste du texte renomme en photo\n" * 4, False),
        ("photo.heif", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00isommp42" + b"\0" * 40, False),
        ("memo.m4a", M4A, True),
        ("memo.m4a", MOV, False),
        ("clip.mov", MOV, True),
        ("clip.mov", b"%PDF-1.4 pas une video\n" * 4, False),
    ],
    ids=["text-as-heic", "mp4-as-heif", "m4a", "mov-as-m4a", "mov", "pdf-as-mov"],
)
def test_phone_containers_are_checked_against_their_extension(
    client, school, name, content, accepted
):
    response = post_document(client, school, name, content)
    stored = Document.objects.filter(title=name).first()
    if accepted:
        assert response.status_code == 302 and stored.file.renditions == ""
        download = client.get(url(school, "file_download", file_id=stored.file.pk))
        assert download["Content-Disposition"].startswith("attachment")
        label = "Audio" if name.endswith(".m4a") else "Vidéo"
        assert f"({label}, " in text(client.get(url(school, "documents")))
    else:
        assert response.status_code == 400 and stored is None
        assert "son contenu ne correspond pas à son extension" in text(response)
    assert StoredFile.objects.filter(name=name).exists() is accepted
