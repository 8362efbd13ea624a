"""The GAR directory export ("export complet GAR-ENT"): what the ENT owes the GAR so that it knows
the establishments, persons, groups and subjects its resources are assigned to.

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

Kept out (data minimisation, and nothing in Préau to fill them): birth dates, MEF, parents
(GAR-ENT-RespAff), e-mail addresses. Only current members of the establishment, this school
year's classes and groups. A person's GARPersonIdentifiant is the IdP's (preau.gar.idp), so the
GAR matches the assertion to the directory.

Run by the job `gar_export` (queue `long`) and by `preau-manage gar_export UAI`; the files are
written under temporary names and renamed once all are whole (a job taken again after its
worker died writes them again).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from xml.etree import ElementTree as ET

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


def documents(est: Establishment) -> dict[str, ET.Element]:
    """The four XML documents of `est` (kind -> root element)."""
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
    return {"Etab": etab, "Eleve": pupils, "Enseignant": staff, "Groupe": groups}


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


def run(uai: str, output: str = "") -> dict:
    """Write `uai`'s four files into `output` (default `[federation] gar_export_dir`): their
    paths and how many elements of each kind. ExportError when the GAR is not enabled there,
    or nowhere to write."""
    est = Establishment.objects.filter(uai=uai).first()
    if est is None or not est.is_active:
        raise ExportError(f"établissement {uai} inconnu ou fermé")
    if not idp.gar_enabled(est):
        raise ExportError(f"le GAR n'est pas ouvert à {uai} (preau-manage gar enable {uai})")
    ent_id = idp.conf()["gar_ent_id"]
    if not ent_id:
        raise ExportError("[federation] gar_ent_id (l'identifiant de l'ENT au GAR) est vide")
    target = Path(output or idp.conf()["gar_export_dir"])
    if not str(target) or not target.is_dir():
        raise ExportError(f"répertoire d'export {str(target)!r} absent")
    docs = documents(est)
    day = timezone.localdate()
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
    return {"uai": uai, "files": [str(p) for _, p in written], "counts": counts}
