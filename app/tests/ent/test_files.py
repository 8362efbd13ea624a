"""Stored files (preau.ent.files): upload limits, chunks and streaming, per establishment."""

from preau.documents.models import Document
from preau.ent.models import StoredFile
from tests.school import make_school, upload, url


def test_upload_limits_type_and_size(client, school, settings):
    s = school
    client.force_login(s["teacher"])
    teaching = f"{s['class'].pk}:{s['subject'].pk}"
    response = client.post(
        url(s, "document_new"),
        {"teaching": teaching, "title": "Virus", "file": upload("virus.exe", b"MZ")},
    )
    assert (
        response.status_code == 400 and "Type de fichier non accepté" in response.content.decode()
    )
    settings.PREAU_UPLOAD_MAX_BYTES = 1000
    response = client.post(
        url(s, "document_new"),
        {"teaching": teaching, "title": "Gros", "file": upload("gros.pdf", b"x" * 1001)},
    )
    assert response.status_code == 400 and "trop volumineux" in response.content.decode()
    assert not Document.objects.filter(title__in=["Virus", "Gros"]).exists()


def test_large_file_is_stored_in_chunks_and_streamed(client, school):
    s = school
    content = bytes(range(256)) * 5000  # 1.28 MB → 3 chunks
    client.force_login(s["teacher"])
    response = client.post(
        url(s, "document_new"),
        {
            "teaching": f"{s['class'].pk}:{s['subject'].pk}",
            "title": "Annales",
            "file": upload("annales.pdf", content),
        },
    )
    assert response.status_code == 302
    stored = Document.objects.get(title="Annales").file
    assert stored.chunks_count == 3 and stored.size == len(content)
    client.force_login(s["parent"])
    download = client.get(url(s, "file_download", file_id=stored.pk))
    assert download.streaming and download["Content-Length"] == str(len(content))
    assert download["Content-Disposition"] == 'attachment; filename="annales.pdf"'
    assert b"".join(download.streaming_content) == content


def test_stored_files_are_per_establishment(school):
    other = make_school("B", "0820010R")
    assert StoredFile.objects.of(school["est"]).filter(pk=other["file"].pk).count() == 0
