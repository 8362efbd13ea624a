"""Activation letters (issue #19 item 1, preau.ent.letters): a batch asked for on the directory's
pages (Post/Redirect/Get), made by the background job, its PDF read back page by page; codes
issued once, working at the activation page once, voided by an explicit regeneration; bad
input refused in French with nothing created; another establishment's batch is a 404."""

import base64
import re
import zlib

import pytest
from django.core.management import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from preau.core.models import ClassMembership, LoginAttempt, Membership, User
from preau.ent import letters
from preau.ent.models import LetterBatch, StoredFile
from tests.school import make_school

PASSWORD = "Tournesol-42!"


def pdf_pages(data: bytes) -> list[str]:
    """The text of each page of a PDF written by ReportLab, without ReportLab: its page
    objects counted, each page's content stream (ASCII85 then Flate, in page order)
    decompressed and the strings its text operators show joined, un-escaped (WinAnsi); the
    QR code's own stream has no text."""
    assert data.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type /Page\b(?!s)", data))
    texts = []
    for stream in re.findall(rb"stream\r?\n(.*?)~>endstream", data, re.S):
        content = zlib.decompress(base64.a85decode(stream)).decode("latin-1")
        shown = re.findall(r"\(((?:[^()\\]|\\.)*)\) Tj", content)
        unescaped = [
            re.sub(r"\\([0-7]{3}|.)", lambda m: _char(m.group(1)), s).encode("latin-1")
            for s in shown
        ]
        if shown:  # a page's text, not the QR code's form (drawn once, shown on every page)
            texts.append("\n".join(s.decode("cp1252") for s in unescaped))
    assert len(texts) == pages, "one content stream with text per page"
    return texts


def _char(escape: str) -> str:
    return chr(int(escape, 8)) if len(escape) == 3 else escape


def codes_in(page: str) -> str:
    return re.search(r"^([A-Z2-9]{10})$", page, re.M).group(1)


def activate(username: str, code: str) -> int:
    data = {"username": username, "code": code, "password1": PASSWORD, "password2": PASSWORD}
    return Client().post("/activation/", data).status_code


@pytest.fixture
def federation_on(settings):
    """ÉduConnect enabled: pupils with an INE log in through it (preau.federation)."""
    settings.PREAU_FEDERATION = {
        **settings.PREAU_FEDERATION,
        "sp_entity_id": "https://preau.test/sp",
        "educonnect_entity_id": "https://educonnect.test/idp",
    }


def test_a_class_batch_made_by_the_job_once_regenerated_on_demand(client, run_jobs, federation_on):
    s = make_school()
    est, uai = s["est"], s["est"].uai
    # 5A: Léa MARTIN and Hugo BOUSQUET to activate; Inès has logged in through ÉduConnect,
    # Tom is activated already: neither gets a letter.
    federated = {"federated_idp": "educonnect", "federated_since": "2026-09-02T08:00Z"}
    for username, first, extra in (
        ("ines.a", "Inès", {"ine": "123456789AB", **federated}),
        ("tom.a", "Tom", {"password": "Deja-active-1"}),
    ):
        user = User.objects.create_user(username, first_name=first, last_name="ZZ", **extra)
        Membership.objects.create(user=user, establishment=est, profile="ELV")
        ClassMembership.objects.create(class_group=s["class"], user=user)
    client.force_login(s["admin"])
    page = reverse("letters", kwargs={"uai": uai})
    assert "5A" in client.get(page).content.decode()
    response = client.post(page, {"class_name": "5A", "profile": ""})
    batch = LetterBatch.objects.of(est).exclude(pk=s["letters"].pk).get()
    batch_url = reverse("letter_batch", kwargs={"uai": uai, "batch_id": batch.pk})
    assert response.status_code == 302 and response["Location"] == batch_url  # PRG
    waiting = client.get(batch_url)
    assert "en préparation" in waiting.content.decode() and waiting["Refresh"] == "5"

    run_jobs()
    with CaptureQueriesContext(connection) as queries:
        ready = client.get(batch_url)
    assert len(queries) <= 10 and not ready.has_header("Refresh")
    assert "2 lettre(s) prête(s)" in ready.content.decode() and batch.federated_left_out == 1
    pdf = client.get(reverse("letter_batch_file", kwargs={"uai": uai, "batch_id": batch.pk}))
    assert pdf["Content-Type"] == "application/pdf" and pdf["Cache-Control"] == "no-store"
    pages = pdf_pages(b"".join(pdf.streaming_content))
    assert [p.split("\n")[3].split(" – ")[0] for p in pages] == ["Hugo BOUSQUET", "Léa MARTIN"]
    assert "otherstudenta" in pages[0] and "studenta" in pages[1]
    assert "Classe 5A" in pages[0] and "http://testserver/activation/" in pages[0]
    assert "au moins 8 caractères" in pages[0]  # the pupils' password rule
    codes = {"otherstudenta": codes_in(pages[0]), "studenta": codes_in(pages[1])}
    hashes = dict(User.objects.filter(pk__in=batch.user_ids).values_list("pk", "activation_code"))

    # A reload (or F5 on the batch's page) changes nothing; the job made the codes once.
    client.get(batch_url)
    with CaptureQueriesContext(connection) as queries:
        listing = client.get(page).content.decode()
    assert len(queries) <= 10 and "2 lettre(s), codes valables jusqu'au" in listing
    run_jobs()
    again = dict(User.objects.filter(pk__in=batch.user_ids).values_list("pk", "activation_code"))
    assert again == hashes

    assert activate("studenta", codes["studenta"]) == 302  # the first login
    LoginAttempt.objects.all().delete()
    assert activate("studenta", codes["studenta"]) == 400  # once

    # Regeneration: a confirmation page, then the POST voids the printed codes at once.
    regenerate = reverse("letter_batch_regenerate", kwargs={"uai": uai, "batch_id": batch.pk})
    assert "ne fonctionneront plus" in client.get(regenerate).content.decode()
    assert client.post(regenerate)["Location"] == batch_url
    assert StoredFile.objects.filter(pk=batch.file_id).count() == 0
    assert activate("otherstudenta", codes["otherstudenta"]) == 400
    run_jobs()
    new_pages = pdf_pages(
        b"".join(
            client.get(
                reverse("letter_batch_file", kwargs={"uai": uai, "batch_id": batch.pk})
            ).streaming_content
        )
    )
    assert len(new_pages) == 1 and "otherstudenta" in new_pages[0]  # Léa has activated since
    LoginAttempt.objects.all().delete()
    assert activate("otherstudenta", codes_in(new_pages[0])) == 302


def test_bad_input_is_refused_in_french_and_creates_nothing(client, db):
    s = make_school()
    b = make_school("B", "0820010R")
    uai = s["est"].uai
    client.force_login(s["admin"])
    page = reverse("letters", kwargs={"uai": uai})
    before = LetterBatch.objects.count()
    nothing = client.post(page, {"class_name": "", "profile": ""})
    assert nothing.status_code == 400
    assert "Choisissez une classe, un profil, ou les deux." in nothing.content.decode()
    unknown = client.post(page, {"class_name": "6Z", "profile": ""})
    assert unknown.status_code == 400  # not one of the form's classes
    # Everyone of the profile is activated: no empty PDF, a message naming the selection.
    User.objects.filter(memberships__profile="ENS").update(password="x")
    empty = client.post(page, {"class_name": "", "profile": "ENS"})
    assert empty.status_code == 400
    assert "Aucune lettre à faire (profil enseignant)" in empty.content.decode()
    assert LetterBatch.objects.count() == before
    # Another establishment's batch, its PDF and its regeneration: 404, under either UAI.
    for name in ("letter_batch", "letter_batch_file", "letter_batch_regenerate"):
        url = reverse(name, kwargs={"uai": uai, "batch_id": b["letters"].pk})
        assert client.get(url).status_code == 404
    url = reverse("letter_batch_regenerate", kwargs={"uai": uai, "batch_id": b["letters"].pk})
    assert client.post(url).status_code == 404
    with pytest.raises(letters.LettersError, match="Classe « 6Z » inconnue"):
        letters.create_batch(s["est"], class_name="6Z", by="x", site_url="https://p.test")
    with pytest.raises(letters.LettersError, match="Profil « profs » inconnu"):
        letters.create_batch(s["est"], profile="profs", by="x", site_url="https://p.test")


def test_the_command_makes_the_same_batch_and_writes_the_pdf(db, call_json, tmp_path):
    s = make_school()
    out = tmp_path / "lettres.pdf"
    answer = call_json(
        "letters",
        s["est"].uai,
        "--class",
        "5a",
        "--profile",
        "parents",
        "--output",
        str(out),
        "--site-url",
        "https://preau.test",
    )
    assert answer["letters"] == 2 and answer["output"] == str(out)
    pages = pdf_pages(out.read_bytes())
    assert "parenta" in pages[1] and "au moins 12 caractères" in pages[1]  # adults' rule
    batch = LetterBatch.objects.get(pk=answer["batch"])
    assert batch.requested_by.startswith("operator:") and batch.file_id is not None
    assert activate("parenta", codes_in(pages[1])) == 302
    with pytest.raises(CommandError, match="Classe « 6Z » inconnue"):
        call_json("letters", s["est"].uai, "--class", "6Z", "--output", str(out), "--site-url=x")
    # Expired codes: the daily retention drops the PDF, the batch stays listed.
    LetterBatch.objects.filter(pk=batch.pk).update(expires_at="2020-01-01T00:00Z")
    assert letters.expire() == 1 and LetterBatch.objects.get(pk=batch.pk).file_id is None
