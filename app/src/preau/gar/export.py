"""The GAR directory export ("export complet GAR-ENT"): what the ENT owes the GAR so that it knows
the establishments, persons, groups and subjects its resources are assigned to, and who assigns
them.

Format: the GAR's XML, namespace `http://data.education.fr/ns/gar`, as public code of ENTs
connected to the GAR writes it (OPEN-ENT-NG/mediacentre: element names, root elements, file
names, and JAXB classes generated from the GAR's XSD giving the order of a person's elements).
The XSD itself (`GAR-ENT.xsd`) could not be read from here: the files are not validated against
it; the tests check them against the structure below. One file per kind and establishment:

| file (`<ent>_GAR-ENT_Complet_<AAAAMMJJ>_<kind>_0000.xml`) | root | elements |
|---|---|---|
| Etab | GAR-ENT-Etab | GAREtab (UAI, name), GARMatiere (UAI, code, label) |
| Eleve | GAR-ENT-Eleve | GAREleve: a pupil (ELV) |
| Enseignant | GAR-ENT-Enseignant | GAREnseignant: teachers and staff (ENS, DIR, EVS, ETA) |
| Groupe | GAR-ENT-Groupe | GARGroupe (classes: DIVISION, groups: GROUPE), GARPersonGroupe (a pupil in one, a teacher without subject), GAREnsClasseMatiere / GAREnsGroupeMatiere (a teacher's subject in a class / group) |
| RespAff | GAR-ENT-RespAff | GARRespAff: a "responsable d'affectation", who assigns the resources (identifier, name, first name, e-mail, GARRespAffEtab the UAI) |

The RespAff names and order are mediacentre's (GarConstants: GARRespAff, GARRespAffEtab, the
mandatory GARPersonIdentifiant, GARPersonNom, GARPersonPrenom, GARPersonMail; its query returns
them in that order); the XSD's own order is not confirmed. The responsables are the current
direction (DIR) and the local admins among the staff: the people who manage the médiacentre.
The GAR needs their e-mail (mandatory): one without an address is left out and named in the
export's warnings.

Kept out (data minimisation, and nothing in Préau to fill them): birth dates, MEF, parents,
pupils' and teachers' e-mail addresses. Only current members of the establishment, this school
year's classes and groups. A person's GARPersonIdentifiant is the IdP's (preau.gar.idp), so the
GAR matches the assertion to the directory.

`run()` writes the five files into a directory (the command `gar_export UAI --output DIR`);
`make()`, run by the job `gar_export` (queue `long`: asked from the médiacentre page, or every
night by `gar_export_nightly`), gives each export its own directory under `gar_export_dir`,
adds the archive the GAR's SFTP drop receives (a .tar.gz of the five files and its .md5, as
mediacentre sends them), records it (GarExport), keeps the last `gar_export_keep` and defers
the transfer (preau.gar.transfer). Files are written under temporary names and renamed once
all are whole (a job taken again after its worker died writes them again).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import tarfile
from pathlib import Path
from xml.etree import ElementTree as ET

from django.db import transaction
from django.utils import timezone

from preau.core.models import (
    ClassGroup,
    ClassMembership,
    Establishment,
    Membership,
    Platform,
    Profile,
    Subject,
    TeachingAssignment,
)
from preau.gar import idp
from preau.gar.models import GarExport

NS = "http://data.education.fr/ns/gar"
ET.register_namespace("men", NS)
STAFF = (Profile.ENS, Profile.DIR, Profile.EVS, Profile.ETA)
GROUP_STATUS = {ClassGroup.Kind.CLASS: "DIVISION", ClassGroup.Kind.GROUP: "GROUPE"}
TEACHING_ELEMENT = {
    ClassGroup.Kind.CLASS: "GAREnsClasseMatiere",
    ClassGroup.Kind.GROUP: "GAREnsGroupeMatiere",
}


class ExportError(Exception):
    """The export cannot be made: the message says why, in French."""


def _el(parent, name: str, text: str | None = None, **children: str):
    element = ET.SubElement(parent, f"{{{NS}}}{name}")
    if text is not None:
        element.text = text
    for child, value in children.items():
        ET.SubElement(element, f"{{{NS}}}{child}").text = value
    return element


def _root(name: str):
    return ET.Element(f"{{{NS}}}{name}", {"Version": "1.0"})


def documents(est: Establishment) -> tuple[dict[str, ET.Element], list[str]]:
    """The five XML documents of `est` (kind -> root element), and the French warnings of what
    was left out."""
    uai = est.uai
    year = Platform.current_school_year()
    members = list(
        Membership.objects.current()
        .filter(establishment=est, user__is_active=True)
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "user_id")
    )
    members = [m for m in members if m.profile == Profile.ELV or m.profile in STAFF]
    ids = idp.identifiers([m.user_id for m in members])

    etab = _root("GAR-ENT-Etab")
    _el(etab, "GAREtab", GARStructureUAI=uai, GARStructureNomCourant=est.name)
    for subject in Subject.objects.of(est).order_by("code"):
        _el(
            etab,
            "GARMatiere",
            GARStructureUAI=uai,
            GARMatiereCode=subject.code,
            GARMatiereLibelle=subject.label or subject.code,
        )

    pupils, staff = _root("GAR-ENT-Eleve"), _root("GAR-ENT-Enseignant")
    for m in members:
        if m.profile == Profile.ELV:
            _person(pupils, "GAREleve", m, ids[m.user_id], uai)
        else:
            _person(staff, "GAREnseignant", m, ids[m.user_id], uai)

    groups = _root("GAR-ENT-Groupe")
    classes = list(ClassGroup.objects.of(est).filter(school_year=year).order_by("kind", "name"))
    for group in classes:
        _el(
            groups,
            "GARGroupe",
            GARGroupeCode=group.name,
            GARStructureUAI=uai,
            GARGroupeLibelle=group.name,
            GARGroupeStatut=GROUP_STATUS[group.kind],
        )
    by_id = {g.pk: g for g in classes}
    exported = set(ids)
    pairs = ClassMembership.objects.filter(class_group_id__in=list(by_id), user_id__in=exported)
    for class_id, user_id in pairs.order_by("class_group_id", "user_id").values_list(
        "class_group_id", "user_id"
    ):
        _person_group(groups, uai, ids[user_id], by_id[class_id].name)
    teachings = TeachingAssignment.objects.filter(
        establishment=est, class_group_id__in=list(by_id), teacher_id__in=exported
    ).select_related("subject")
    for t in teachings.order_by("class_group_id", "teacher_id", "subject__code"):
        group = by_id[t.class_group_id]
        if t.subject is None:
            _person_group(groups, uai, ids[t.teacher_id], group.name)
            continue
        _el(
            groups,
            TEACHING_ELEMENT[group.kind],
            GARStructureUAI=uai,
            GARPersonIdentifiant=ids[t.teacher_id],
            GARGroupeCode=group.name,
            GARMatiereCode=t.subject.code,
        )
    resp, warnings = _responsables(members, ids, uai)
    docs = {"Etab": etab, "Eleve": pupils, "Enseignant": staff, "Groupe": groups, "RespAff": resp}
    return docs, warnings


def _responsables(members: list[Membership], ids: dict[int, str], uai: str):
    """The GAR-ENT-RespAff document: the direction and the local admins among the staff, who
    assign the resources at the GAR; the GAR writes to them, so each needs an e-mail address
    (mandatory): one without is left out, and a French warning says so."""
    root = _root("GAR-ENT-RespAff")
    warnings = []
    for m in members:
        if m.profile not in STAFF or not (m.profile == Profile.DIR or m.is_local_admin):
            continue
        user = m.user
        if not user.email:
            name = f"{user.first_name} {user.last_name}".strip() or user.username
            warnings.append(
                f"{name} (responsable d'affectation) n'a pas d'adresse e-mail : "
                "absent du fichier RespAff"
            )
            continue
        _el(
            root,
            "GARRespAff",
            GARPersonIdentifiant=ids[m.user_id],
            GARPersonNom=user.last_name or user.username,
            GARPersonPrenom=user.first_name or "-",
            GARPersonMail=user.email,
            GARRespAffEtab=uai,
        )
    if not len(root):
        warnings.append(
            "aucun responsable d'affectation (direction, administrateur local) avec une adresse e-mail"
        )
    return root, warnings


def _person(root, element: str, m: Membership, identifier: str, uai: str) -> None:
    """A person's elements, in the order of the GAR's GARIdentite then its own."""
    user = m.user
    person = _el(root, element, GARPersonIdentifiant=identifier)
    _el(
        person,
        "GARPersonProfils",
        GARStructureUAI=uai,
        GARPersonProfil=idp.NATIONAL_PROFILES[m.profile],
    )
    _el(person, "GARPersonNom", user.last_name or user.username)
    _el(person, "GARPersonPrenom", user.first_name or "-")
    _el(person, "GARPersonAutresPrenoms", user.first_name or "-")
    _el(person, "GARPersonStructRattach", uai)
    _el(person, "GARPersonEtab", uai)


def _person_group(root, uai: str, identifier: str, code: str) -> None:
    _el(
        root,
        "GARPersonGroupe",
        GARStructureUAI=uai,
        GARPersonIdentifiant=identifier,
        GARGroupeCode=code,
    )


def file_name(ent_id: str, day: dt.date, kind: str) -> str:
    return f"{ent_id}_GAR-ENT_Complet_{day:%Y%m%d}_{kind}_0000.xml"


def _checked(uai: str) -> tuple[Establishment, str]:
    """The establishment and the ENT's identifier at the GAR, or ExportError (in French)."""
    est = Establishment.objects.filter(uai=uai).first()
    if est is None or not est.is_active:
        raise ExportError(f"établissement {uai} inconnu ou fermé")
    if not idp.gar_enabled(est):
        raise ExportError(f"le GAR n'est pas ouvert à {uai} (preau-manage gar enable {uai})")
    ent_id = idp.conf()["gar_ent_id"]
    if not ent_id:
        raise ExportError("[federation] gar_ent_id (l'identifiant de l'ENT au GAR) est vide")
    return est, ent_id


def _write(est: Establishment, ent_id: str, target: Path, day: dt.date) -> dict:
    docs, warnings = documents(est)
    written = []
    for kind, root in docs.items():
        ET.indent(root)
        path = target / file_name(ent_id, day, kind)
        tmp = path.with_name(f".{path.name}.tmp")
        ET.ElementTree(root).write(tmp, encoding="UTF-8", xml_declaration=True)
        written.append((tmp, path))
    for tmp, path in written:
        os.replace(tmp, path)
    counts: dict[str, int] = {}
    for root in docs.values():
        for child in root:
            name = child.tag.split("}", 1)[1]
            counts[name] = counts.get(name, 0) + 1
    files = [str(p) for _, p in written]
    return {"uai": est.uai, "files": files, "counts": counts, "warnings": warnings}


def run(uai: str, output: str) -> dict:
    """Write `uai`'s five files into the directory `output`: their paths, how many elements of
    each kind and the warnings. ExportError when the GAR is not enabled there, or nowhere to
    write. Nothing recorded nor sent: `make()` does that."""
    est, ent_id = _checked(uai)
    target = Path(output)
    if not output or not target.is_dir():
        raise ExportError(f"répertoire d'export {output!r} absent")
    return _write(est, ent_id, target, timezone.localdate())


def archive_name(ent_id: str, at: dt.datetime, uai: str) -> str:
    """The archive's name without its suffix: mediacentre's (the files' common prefix, the time
    of day too), plus the UAI, since Préau sends one export per establishment."""
    return f"{ent_id}_GAR-ENT_Complet_{at:%Y%m%d_%H%M%S}_{uai}"


def _archive(directory: Path, name: str, files: list[Path]) -> list[Path]:
    """`name`.tar.gz (the XML files) and `name`.md5 (its MD5, hexadecimal, alone): what the GAR's
    SFTP drop receives, as mediacentre sends it. Written under temporary names, then renamed."""
    tar_path, md5_path = directory / f"{name}.tar.gz", directory / f"{name}.md5"
    tmp = directory / f".{tar_path.name}.tmp"
    with tarfile.open(tmp, "w:gz") as tar:
        for path in files:
            tar.add(path, arcname=path.name)
    digest = hashlib.md5(tmp.read_bytes(), usedforsecurity=False).hexdigest()
    os.replace(tmp, tar_path)
    tmp_md5 = directory / f".{md5_path.name}.tmp"
    tmp_md5.write_text(digest, encoding="ascii")
    os.replace(tmp_md5, md5_path)
    return [tar_path, md5_path]


def ask(est: Establishment, nightly: bool = False) -> GarExport:
    """A new export of `est`, deferred (job `gar_export`) in the caller's transaction."""
    from preau.jobs import queue

    with transaction.atomic():
        record = GarExport.objects.create(establishment=est, nightly=nightly)
        record.job_id = queue.enqueue("gar_export", establishment_uai=est.uai, export_id=record.pk)
        record.save(update_fields=["job_id"])
    return record


def nightly() -> dict:
    """Every active establishment where the GAR is enabled gets its complete export (one job
    each, so that one failing does not stop the others); nothing when the platform has no
    GAR identifier or export directory (the GAR not set up)."""
    conf = idp.conf()
    if not conf["gar_ent_id"] or not conf["gar_export_dir"]:
        return {"asked": [], "skipped": "gar_ent_id or gar_export_dir not set"}
    establishments = Establishment.objects.filter(
        status=Establishment.Status.ACTIVE, settings__gar=True
    ).order_by("uai")
    asked = []
    for est in establishments:
        ask(est, nightly=True)
        asked.append(est.uai)
    return {"asked": asked}


def make(uai: str, export_id: int = 0) -> dict:
    """The export `export_id` (a new one when 0) of `uai`, in a directory of its own under
    `[federation] gar_export_dir`, recorded; its transfer deferred when the GAR's SFTP drop is
    configured; the older exports beyond `gar_export_keep` removed. A failure is recorded on the
    export (its French message) and raised as ExportError; an export already made is left as
    it is (a job taken again)."""
    from preau.gar import transfer
    from preau.jobs import queue

    est = Establishment.objects.filter(uai=uai).first()
    if est is None:
        raise ExportError(f"établissement {uai} inconnu ou fermé")
    record = GarExport.objects.filter(pk=export_id, establishment=est).first()
    if record is None:
        record = GarExport.objects.create(establishment=est)
    if record.status == GarExport.Status.MADE:
        return _summary(record)
    try:
        est, ent_id = _checked(uai)
        root = Path(idp.conf()["gar_export_dir"])
        if not idp.conf()["gar_export_dir"] or not root.is_dir():
            raise ExportError(f"répertoire d'export {str(root)!r} absent")
        now = timezone.localtime()
        _remove(record.directory)  # a job taken again after its worker died: its half goes
        directory = root / est.uai / f"{now:%Y%m%d-%H%M%S}-{record.pk}"
        record.directory = str(directory)
        record.save(update_fields=["directory"])
        directory.mkdir(parents=True, exist_ok=True)
        result = _write(est, ent_id, directory, now.date())
        files = [Path(p) for p in result["files"]]
        archive = _archive(directory, archive_name(ent_id, now, est.uai), files)
    except (ExportError, OSError) as exc:
        record.status = GarExport.Status.FAILED
        record.error = (
            str(exc)
            if isinstance(exc, ExportError)
            else f"écriture impossible dans le répertoire d'export ({exc.strerror or exc})"
        )
        record.save(update_fields=["status", "error"])
        raise ExportError(record.error) from exc
    with transaction.atomic():
        record.status, record.error = GarExport.Status.MADE, ""
        record.made_at = timezone.now()
        record.files = [Path(p).name for p in result["files"]] + [p.name for p in archive]
        record.counts, record.warnings = result["counts"], result["warnings"]
        if transfer.configured():
            record.transfer = GarExport.Transfer.PENDING
            queue.enqueue("gar_transfer", establishment_uai=est.uai, export_id=record.pk)
        record.save()
    prune(est)
    return _summary(record)


def _summary(record: GarExport) -> dict:
    return {
        "uai": record.establishment.uai,
        "export_id": record.pk,
        "directory": record.directory,
        "files": [str(Path(record.directory) / name) for name in record.files],
        "counts": record.counts,
        "warnings": record.warnings,
        "transfer": record.transfer,
    }


def prune(est: Establishment) -> list[str]:
    """The exports of `est` beyond the last `gar_export_keep` removed with their directories
    (only directories under gar_export_dir); one still being made or sent stays until the next
    time. The directories removed."""
    keep = idp.conf()["gar_export_keep"]
    removed = []
    for record in GarExport.objects.filter(establishment=est).order_by("-created_at", "-id")[keep:]:
        if record.status == GarExport.Status.PENDING:
            continue
        if record.transfer == GarExport.Transfer.PENDING:
            continue
        if _remove(record.directory):
            removed.append(record.directory)
        record.delete()
    return removed


def _remove(directory: str) -> bool:
    """An export's directory removed, only when it lies under gar_export_dir (a path from the
    database never removes anything else)."""
    root = Path(idp.conf()["gar_export_dir"]).resolve()
    path = Path(directory).resolve() if directory else None
    if path is None or not idp.conf()["gar_export_dir"] or not path.is_relative_to(root):
        return False
    if path == root or not path.is_dir():
        return False
    shutil.rmtree(path, ignore_errors=True)
    return True


def remove_files(uai: str) -> bool:
    """Every export directory of `uai` removed, when the establishment is purged
    (core.closure.purge): the copy of its people made for the GAR must not outlive its data.
    Whether there was one."""
    base = idp.conf()["gar_export_dir"]
    directory = Path(base) / uai
    if not base or not uai or not directory.is_dir():
        return False
    shutil.rmtree(directory)
    return True
