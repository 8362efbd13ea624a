"""Uploads: the antivirus (a real clamd with a signature database made here), quotas per user
and per establishment, safe download headers, and the retention job's removal of orphan files."""

import datetime as dt
import hashlib
import html
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from preau import config
from preau.documents.models import Document
from preau.ent import files
from preau.ent.models import FileChunk, StoredFile
from preau.grades.models import Bulletin, LsuExport
from preau.logbook.models import Submission
from preau.messaging.models import Message
from preau.spaces.models import SpacePost
from tests.school import add_renditions, upload, url

CLAMD = Path("/usr/sbin/clamd")
CLEAN = b"%PDF-1.4 un cours tout a fait sain\n"
# Our own "virus": clamd knows it only through the hash signature the fixture writes (.hdb:
# md5:size:name). The lab and CI have no network, hence no official database.
INFECTED = b"%PDF-1.4 preau-test-malware, detected by a local signature only\n"
THREAT = "Preau.Test.Malware.UNOFFICIAL"


class Clamd:
    """Debian's clamd on a unix socket in a temp dir, with only our signature; freshclam never runs."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="preau-clamd-"))
        self.socket = self.dir / "clamd.sock"
        self.log = self.dir / "clamd.log"
        (self.dir / "db").mkdir()
        (self.dir / "db" / "preau-test.hdb").write_text(
            f"{hashlib.md5(INFECTED).hexdigest()}:{len(INFECTED)}:Preau.Test.Malware\n"
        )
        (self.dir / "clamd.conf").write_text(
            f"LocalSocket {self.socket}\nDatabaseDirectory {self.dir / 'db'}\nTemporaryDirectory {self.dir}\n"
            f"LogFile {self.log}\nLogClean yes\nForeground yes\nStreamMaxLength 20M\n"
        )
        self.process = subprocess.Popen(
            [str(CLAMD), "-c", str(self.dir / "clamd.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_ready()

    def _wait_ready(self):
        end = time.monotonic() + 15
        while time.monotonic() < end:
            with socket.socket(socket.AF_UNIX) as sock:
                try:
                    sock.connect(str(self.socket))
                    return
                except OSError:
                    time.sleep(0.02)
        self.stop()
        raise RuntimeError(
            f"clamd did not start: {self.log.read_text() if self.log.exists() else ''}"
        )

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def clamd(settings):
    if not CLAMD.exists():
        pytest.skip("clamd not installed (Debian package clamav-daemon)")
    daemon = Clamd()
    settings.PREAU_CLAMD_SOCKET = str(daemon.socket)
    yield daemon
    daemon.close()


def post_document(client, s, name, content, title="Fiche"):
    client.force_login(s["teacher"])
    return client.post(
        url(s, "document_new"),
        {
            "teaching": f"{s['class'].pk}:{s['subject'].pk}",
            "title": title,
            "file": upload(name, content),
        },
    )


def text(response) -> str:
    return html.unescape(response.content.decode())


# --- antivirus ---------------------------------------------------------------------------------


def test_a_clean_upload_is_scanned_then_stored(client, school, clamd):
    response = post_document(client, school, "sain.pdf", CLEAN)
    assert response.status_code == 302
    assert Document.objects.get(title="Fiche").file.size == len(CLEAN)
    assert "instream(local): OK" in clamd.log.read_text()


def test_an_infected_upload_is_refused_naming_the_threat_and_nothing_is_stored(
    client, school, clamd
):
    before = StoredFile.objects.count(), FileChunk.objects.count()
    response = post_document(client, school, "devoir.pdf", INFECTED)
    assert response.status_code == 400
    assert f"virus ou un programme malveillant ({THREAT})" in text(response)
    assert (StoredFile.objects.count(), FileChunk.objects.count()) == before
    assert not Document.objects.filter(title="Fiche").exists()
    # A homework handed in goes through the same check.
    client.force_login(school["student"])
    response = client.post(
        url(school, "homework", homework_id=school["homework"].pk),
        {"file": upload("copie.pdf", INFECTED), "comment": ""},
    )
    assert response.status_code == 400 and THREAT in text(response)
    assert Submission.objects.get(student=school["student"]).file == school["submission_file"]


def test_store_scans_what_no_form_checked(school, clamd):
    with pytest.raises(files.Refused, match=THREAT):
        files.store(school["est"], SimpleUploadedFile("x.pdf", INFECTED), school["teacher"])
    stored = files.store(school["est"], SimpleUploadedFile("y.pdf", CLEAN), school["teacher"])
    assert bytes(stored.chunks.get().data) == CLEAN


def test_clamd_down_refuses_uploads_with_a_message(client, school, clamd, caplog):
    clamd.stop()
    before = StoredFile.objects.count()
    response = post_document(client, school, "sain.pdf", CLEAN)
    assert response.status_code == 400
    assert "L'analyse antivirus est momentanément indisponible" in text(response)
    assert StoredFile.objects.count() == before
    assert any("antivirus unavailable" in r.getMessage() for r in caplog.records)


def test_no_scan_when_no_clamd_is_configured(client, school, settings):
    settings.PREAU_CLAMD_SOCKET = ""
    assert post_document(client, school, "x.pdf", INFECTED).status_code == 302


# --- quotas ------------------------------------------------------------------------------------


def test_user_quota_says_the_limit_and_what_is_used(client, school, settings):
    settings.PREAU_UPLOAD_USER_QUOTA_BYTES = 1024 * 1024
    used = StoredFile.objects.get(pk=school["file"].pk).size  # the teacher's course sheet
    assert (
        post_document(client, school, "a.pdf", b"a" * (700 * 1024 - used), title="A").status_code
        == 302
    )
    response = post_document(client, school, "b.pdf", b"b" * 400 * 1024, title="B")
    assert response.status_code == 400
    assert (
        "vos fichiers occupent 700 ko sur 1,0 Mo autorisés, ce fichier (400 ko) dépasserait la limite"
        in text(response)
    )
    assert not Document.objects.filter(title="B").exists()
    # Another teacher of the same establishment still has their own room.
    client.force_login(school["other_teacher"])
    assert files.store(
        school["est"], upload("c.pdf", b"c" * 400 * 1024), school["other_teacher"]
    ).pk


def test_establishment_quota_says_the_limit_and_what_is_used(client, school, settings):
    settings.PREAU_UPLOAD_ESTABLISHMENT_QUOTA_BYTES = 2 * 1024 * 1024
    files.store(school["est"], upload("gros.pdf", b"g" * (2 * 1024 * 1024 - 2048)), school["admin"])
    client.force_login(school["teacher"])
    response = client.post(
        url(school, "message_new"),
        {
            "recipients": [str(school["student"].pk)],
            "subject": "Pièce jointe",
            "body": "Voici",
            "attachment": upload("pj.pdf", b"p" * 10 * 1024),
        },
    )
    assert response.status_code == 400
    page = text(response)
    assert (
        "Espace de stockage de l'établissement insuffisant : ses fichiers occupent 2,0 Mo sur 2,0 Mo"
        in page
    )
    assert "ce fichier (10 ko) dépasserait la limite" in page
    assert not Message.objects.filter(body="Voici").exists()


def test_size_labels():
    assert files.size_label(20 * 1024**3) == "20,0 Go"
    assert files.size_label(200 * 1024**2) == "200,0 Mo"
    assert files.size_label(3000) == "3 ko"


# --- download headers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, disposition",
    [
        ("cours.pdf", "attachment"),
        ("notes.txt", "attachment"),
        ("page.odt", "attachment"),
        ("photo.png", "inline"),
        ("photo.jpg", "inline"),
    ],
)
def test_private_files_are_never_cached_nor_sniffed_and_active_types_are_downloaded(
    client, school, name, disposition
):
    stored = files.store(
        school["est"], upload(name, b"<html><script>alert(1)</script>"), school["teacher"]
    )
    client.force_login(school["teacher"])
    response = client.get(url(school, "file_download", file_id=stored.pk))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith(f'{disposition}; filename="{name}"')


# --- orphans -----------------------------------------------------------------------------------


def _age(stored, days):
    StoredFile.objects.filter(pk=stored.pk).update(
        uploaded_at=timezone.now() - dt.timedelta(days=days)
    )


def test_retention_removes_files_nothing_references_and_keeps_the_others(school, call_json):
    s, est, teacher = school, school["est"], school["teacher"]
    add_renditions(s)  # kept while the course file holding them is
    # a course document, a homework handed in, a batch of activation letters, the class's
    # bulletins (its PDF and the student's), the LSU export's XML
    bulletins = [s["bulletins"].file, Bulletin.objects.get(batch=s["bulletins"]).file]
    bulletins.append(LsuExport.objects.get(period=s["period"]).file)  # the period's LSU file
    attached = [s["file"], s["submission_file"], s["letters"].file, *bulletins]
    message = Message.objects.create(
        conversation=s["conversation"],
        author=teacher,
        body="PJ",
        attachment=files.store(est, upload("pj.pdf"), teacher),
    )
    post = SpacePost.objects.create(
        establishment=est,
        class_group=s["class"],
        author=teacher,
        body="Fichier",
        file=files.store(est, upload("espace.pdf"), teacher),
    )
    kept_post = SpacePost.objects.create(
        establishment=est,
        class_group=s["class"],
        author=teacher,
        body="Reste",
        file=files.store(est, upload("reste.pdf"), teacher),
    )
    document = Document.objects.create(
        establishment=est,
        class_group=s["class"],
        title="Supprimé",
        file=files.store(est, upload("supprime.pdf"), teacher),
        author=teacher,
    )
    # An image's preview and JPEG (preau.ent.renditions) are held by it: they go with it.
    document.file.preview = files.store_generated(est, "supprime-apercu.jpg", b"\xff\xd8")
    document.file.jpeg = files.store_generated(est, "supprime.jpg", b"\xff\xd8")
    document.file.save()
    orphans = [message.attachment, post.file, document.file]
    orphans += [document.file.preview, document.file.jpeg]
    message.delete()
    post.delete()
    document.delete()
    # A homework handed in again: the first copy is referenced by nothing any more.
    replaced = s["submission_file"]
    Submission.objects.filter(file=replaced).update(
        file=files.store(est, upload("v2.pdf"), s["student"])
    )
    orphans.append(replaced)
    attached = [
        s["file"],
        s["file"].preview,
        s["file"].jpeg,
        kept_post.file,
        Submission.objects.get(student=s["student"]).file,
        s["letters"].file,
        *bulletins,
    ]
    in_progress = files.store(
        est, upload("en-cours.pdf"), teacher
    )  # just uploaded, not attached yet
    for stored in orphans + attached:
        _age(stored, 2)

    assert call_json("purge_gone", "--dry-run")["orphan_files_deleted"] == len(orphans)
    assert StoredFile.objects.filter(pk__in=[o.pk for o in orphans]).count() == len(orphans)
    assert call_json("purge_gone")["orphan_files_deleted"] == len(orphans)
    assert not StoredFile.objects.filter(pk__in=[o.pk for o in orphans]).exists()
    assert not FileChunk.objects.filter(file_id__in=[o.pk for o in orphans]).exists()
    assert set(StoredFile.objects.values_list("pk", flat=True)) == {f.pk for f in attached} | {
        in_progress.pk
    }
    # Once past the grace period, the upload never attached is an orphan too.
    _age(in_progress, 2)
    assert call_json("purge_gone")["orphan_files_deleted"] == 1


# --- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "environ, error",
    [
        ({"PREAU_ANTIVIRUS_CLAMD_SOCKET": "clamd"}, "unix socket path"),
        ({"PREAU_UPLOADS_USER_QUOTA_MB": "0"}, "user_quota_mb must be positive"),
        ({"PREAU_ANTIVIRUS_TIMEOUT_SECONDS": "-1"}, "timeout_seconds must be positive"),
    ],
)
def test_bad_upload_configuration_is_named(environ, error):
    with pytest.raises(config.ConfigError, match=error):
        config.load("/nonexistent", {"PREAU_DJANGO_DEBUG": "1", **environ})


def test_upload_configuration_defaults():
    loaded = config.load(
        "/nonexistent",
        {"PREAU_DJANGO_DEBUG": "1", "PREAU_ANTIVIRUS_CLAMD_SOCKET": "127.0.0.1:3310"},
    )
    assert loaded["uploads"] == {
        "max_file_mb": 10,
        "user_quota_mb": 200,
        "establishment_quota_mb": 20480,
        "orphan_grace_hours": 24,
    }
    assert loaded["antivirus"]["clamd_socket"] == "127.0.0.1:3310"
