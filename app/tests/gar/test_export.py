"""The GAR directory export (job `gar_export`, command `gar_export`), the médiacentre page and the
`gar` command: exact contents, one establishment only, refusals that write nothing."""

import hashlib
import io
import json
import tarfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from django.core.management import call_command
from django.urls import reverse

from preau.core.management.base import OpsError
from preau.core.models import Membership
from preau.gar import export, idp
from preau.gar.models import GarExport, GarIdentifier, GarResource
from preau.jobs import queue, tasks
from tests.school import make_school

NS = {"men": export.NS}


@pytest.fixture
def a(db, settings):
    """A school where the GAR is enabled."""
    settings.PREAU_FEDERATION = {**settings.PREAU_FEDERATION, "gar_ent_id": "ENT-TEST"}
    a = make_school("A", "0820021C")
    a["est"].settings = {"gar": True}
    a["est"].save()
    return a


@pytest.fixture
def w(a):
    """A and B, both with the GAR, and a teacher of both: in A's files with A's data only."""
    b = make_school("B", "0820010R")
    b["est"].settings = {"gar": True}
    b["est"].save()
    Membership.objects.create(user=a["teacher"], establishment=b["est"], profile="ENS")
    return {"A": a, "B": b}


def _run(args, **kwargs) -> dict:
    out = io.StringIO()
    call_command(*args, "--json", stdout=out, **kwargs)
    return json.loads(out.getvalue())


def _texts(root, path):
    return [e.text for e in root.iterfind(path, NS)]


def test_export_files_hold_the_establishment_its_people_groups_and_subjects(w, tmp_path):
    a = w["A"]
    a["admin"].email = "direction@clg-a.test"
    a["admin"].save()
    # A local admin among the teachers, without an address: left out of RespAff, and said.
    Membership.objects.filter(user=a["teacher"], establishment=a["est"]).update(is_local_admin=True)
    result = _run(["gar_export", "0820021C", "--output", str(tmp_path)])
    files = {Path(p).name.split("_")[4]: ET.parse(p).getroot() for p in result["files"]}
    day = Path(result["files"][0]).name.split("_")[3]
    assert sorted(Path(p).name for p in result["files"]) == sorted(
        f"ENT-TEST_GAR-ENT_Complet_{day}_{kind}_0000.xml"
        for kind in ("Etab", "Eleve", "Enseignant", "Groupe", "RespAff")
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        Path(p).name for p in result["files"]
    )  # nothing else: the command with --output records and sends nothing
    etab, pupils, staff, groups = (files[k] for k in ("Etab", "Eleve", "Enseignant", "Groupe"))
    assert etab.tag == f"{{{export.NS}}}GAR-ENT-Etab" and etab.get("Version") == "1.0"
    assert _texts(etab, "men:GAREtab/men:GARStructureUAI") == ["0820021C"]
    assert _texts(etab, "men:GARMatiere/men:GARMatiereCode") == ["MATHEMATIQUES"]

    ident = GarIdentifier.objects.get(user=a["student"]).value
    assert sorted(_texts(pupils, "men:GAREleve/men:GARPersonIdentifiant")) == sorted(
        GarIdentifier.objects.get(user=a[r]).value for r in ("student", "other_student")
    )
    pupil = next(e for e in pupils if e.findtext("men:GARPersonIdentifiant", None, NS) == ident)
    assert [c.tag.split("}")[1] for c in pupil] == [
        "GARPersonIdentifiant",
        "GARPersonProfils",
        "GARPersonNom",
        "GARPersonPrenom",
        "GARPersonAutresPrenoms",
        "GARPersonStructRattach",
        "GARPersonEtab",
    ]
    assert pupil.findtext("men:GARPersonNom", None, NS) == a["student"].last_name
    assert pupil.findtext("men:GARPersonProfils/men:GARPersonProfil", None, NS) == "National_elv"
    # Teachers and staff (ENS, DIR, EVS, ETA of tests.school), never parents.
    expected_staff = Membership.objects.filter(
        establishment=a["est"], profile__in=["ENS", "DIR", "EVS", "ETA"]
    ).count()
    assert len(staff) == expected_staff
    assert not pupils.findall(".//men:GARPersonProfil[.='National_tut']", NS)

    assert _texts(groups, "men:GARGroupe/men:GARGroupeCode") == ["4A", "5A", "5-LATIN-A"]
    assert _texts(groups, "men:GARGroupe/men:GARGroupeStatut") == ["DIVISION"] * 2 + ["GROUPE"]
    # 5A's two pupils, the latin group's one, the teacher of 4A without a subject.
    assert len(groups.findall("men:GARPersonGroupe", NS)) == 4
    assert _texts(groups, "men:GAREnsClasseMatiere/men:GARGroupeCode") == ["5A"]
    assert _texts(groups, "men:GAREnsGroupeMatiere/men:GARMatiereCode") == ["MATHEMATIQUES"]
    assert result["counts"]["GAREleve"] == 2

    # Nobody and nothing of B: its people are in none of A's files.
    b_only = [w["B"][r] for r in ("student", "other_student", "admin", "evs")]
    everything = "".join(ET.tostring(r, encoding="unicode") for r in files.values())
    for user in b_only:
        assert user.last_name not in everything
    assert "0820010R" not in everything and "5B" not in everything
    shared = GarIdentifier.objects.get(user=a["teacher"]).value
    assert everything.count(shared) == 3  # the person, 5A's and the latin group's subject

    # RespAff: the direction (with its address); the teacher local admin without one is said.
    resp = files["RespAff"]
    assert resp.tag == f"{{{export.NS}}}GAR-ENT-RespAff" and resp.get("Version") == "1.0"
    (person,) = resp.findall("men:GARRespAff", NS)
    assert [(c.tag.split("}")[1], c.text) for c in person] == [
        ("GARPersonIdentifiant", GarIdentifier.objects.get(user=a["admin"]).value),
        ("GARPersonNom", "CASTEX"),
        ("GARPersonPrenom", "Hélène"),
        ("GARPersonMail", "direction@clg-a.test"),
        ("GARRespAffEtab", "0820021C"),
    ]
    assert result["counts"]["GARRespAff"] == 1
    assert result["warnings"] == [
        "Julien FABRE (responsable d'affectation) n'a pas d'adresse e-mail : "
        "absent du fichier RespAff"
    ]


def test_export_refusals_write_nothing(a, tmp_path, settings):
    a["est"].settings = {"gar": False}
    a["est"].save()
    with pytest.raises(OpsError, match="n'est pas ouvert à 0820021C"):
        call_command("gar_export", "0820021C", "--output", str(tmp_path))
    with pytest.raises(export.ExportError, match="inconnu"):
        export.run("0820010R", str(tmp_path))
    _run(["gar", "enable", "0820021C"])
    with pytest.raises(export.ExportError, match="absent"):
        export.run("0820021C", str(tmp_path / "nowhere"))
    assert list(tmp_path.iterdir()) == []


def test_the_job_writes_an_export_of_its_own_and_records_it(a, tmp_path, settings):
    """Each export in its own directory under gar_export_dir: the five files, the archive the
    GAR receives and its MD5; recorded made; nothing to send without an SFTP drop. Without a
    directory the export is recorded failed, with its French reason."""
    settings.PREAU_FEDERATION = {**settings.PREAU_FEDERATION, "gar_export_dir": str(tmp_path)}
    # A job taken again after its worker died mid-way: its half-written directory goes.
    half = tmp_path / "0820021C" / "20261206-011000-1"
    half.mkdir(parents=True)
    (half / ".ENT-TEST_GAR-ENT_Complet_20261206_Etab_0000.xml.tmp").write_text("<men:GAR")
    taken = GarExport.objects.create(establishment=a["est"], directory=str(half))
    assert tasks.gar_export("0820021C", taken.pk)["export_id"] == taken.pk
    assert not half.exists()
    GarExport.objects.all().delete()

    job_id = queue.enqueue("gar_export", establishment_uai="0820021C")
    assert queue.job_status(job_id, "0820021C")["label"] == "en attente"
    assert queue.job_status(job_id, "0820010R") is None
    result = tasks.gar_export("0820021C")
    directory = Path(result["directory"])
    assert directory.parent == tmp_path / "0820021C"
    names = sorted(p.name for p in directory.iterdir())
    assert names == sorted(Path(p).name for p in result["files"]) and len(names) == 7
    (archive,) = (directory / n for n in names if n.endswith(".tar.gz"))
    assert archive.name.startswith("ENT-TEST_GAR-ENT_Complet_") and "_0820021C" in archive.name
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == sorted(n for n in names if n.endswith(".xml"))
    md5 = archive.with_name(archive.name.removesuffix(".tar.gz") + ".md5")
    assert md5.read_text() == hashlib.md5(archive.read_bytes()).hexdigest()
    record = GarExport.objects.get()
    assert (record.status, record.transfer, record.establishment) == ("made", "", a["est"])

    # Where the export cannot be written: recorded failed, the system's reason in French words.
    blocked = tmp_path / "bloque"
    (blocked).mkdir()
    (blocked / "0820021C").write_text("un fichier à la place du répertoire")
    settings.PREAU_FEDERATION = {**settings.PREAU_FEDERATION, "gar_export_dir": str(blocked)}
    with pytest.raises(export.ExportError, match=r"écriture impossible .*\(Not a directory\)"):
        export.make("0820021C")
    settings.PREAU_FEDERATION = {**settings.PREAU_FEDERATION, "gar_export_dir": ""}
    with pytest.raises(OpsError, match="répertoire d'export"):
        call_command("gar_export", "0820021C")
    failed = GarExport.objects.order_by("-id").first()
    assert failed.status == "failed" and "répertoire d'export" in failed.error


def test_mediacentre_lists_the_profiles_resources_and_the_direction_asks_the_export(client, w):
    a = w["A"]
    _run(["gar", "add", "0820021C", "https://res.test/dico", "--title", "Dictionnaire"])
    _run(
        [
            "gar",
            "add",
            "0820021C",
            "https://res.test/manuel-prof",
            "--title",
            "Manuel du professeur",
            "--profiles",
            "ens,dir",
        ]
    )
    _run(["gar", "add", "0820010R", "https://res.test/b", "--title", "Ressource de B"])
    url = reverse("mediacentre", kwargs={"uai": "0820021C"})
    client.force_login(a["student"])
    body = client.get(url).content.decode()
    assert "Dictionnaire" in body and "Manuel du professeur" not in body
    assert "Ressource de B" not in body and "Préparer l'export" not in body
    assert client.session[idp.SESSION_UAI] == "0820021C"
    assert client.post(url).status_code == 403
    client.force_login(a["teacher"])
    assert "Manuel du professeur" in client.get(url).content.decode()

    client.force_login(a["admin"])
    response = client.post(url, follow=True)
    body = response.content.decode()
    assert "Export de l&#39;annuaire pour le GAR demandé." in body
    assert "Dernier export (demandé) du " in body and ": en préparation (tâche en attente)." in body
    record = GarExport.objects.get(establishment=a["est"])
    assert queue.job_status(record.job_id, "0820021C")["status"] == "todo"
    # Made, not sent (no SFTP drop): the page says so; a failed one says why.
    GarExport.objects.filter(pk=record.pk).update(status="made")
    body = client.get(url).content.decode()
    assert "Transmission au GAR : non envoyé (pas de dépôt SFTP configuré)." in body
    GarExport.objects.filter(pk=record.pk).update(status="failed", error="répertoire absent")
    assert "Motif : répertoire absent" in client.get(url).content.decode()
    # B's exports never show on A's page.
    GarExport.objects.create(establishment=w["B"]["est"], status="failed", error="secret de B")
    assert "secret de B" not in client.get(url).content.decode()

    _run(["gar", "disable", "0820021C"])
    client.force_login(a["student"])
    assert "n'est pas ouvert dans cet établissement" in client.get(url).content.decode()


def test_gar_command_refuses_bad_resources(a):
    with pytest.raises(OpsError) as refused:
        call_command("gar", "add", "0820021C", "http://x", "--title", " ", "--profiles", "XYZ")
    assert len(refused.value.errors) == 3 and not GarResource.objects.exists()
    listed = _run(["gar", "list"])
    assert listed["resources"] == []
