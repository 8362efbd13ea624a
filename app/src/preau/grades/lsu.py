"""The LSU export (livret scolaire unique, issue #18 item 7): the bilans périodiques of one
establishment and one period as the LSU's import file, the XML of the ministry's schema
"import-bilan-complet.xsd" (namespace urn:fr:edu:scolarite:lsun:bilans:import, schemaVersion
3.0): per pupil (`bilan-periodique`), per subject (`acquis`) the average or the non-mark flag,
the class's average and the teacher's appreciation; the class council's general appreciation
(`acquis-conseils`); the absences and lateness (`vie-scolaire`); the socle's eight components
and their level 1-4 (`socle`) when the period ends a cycle.

Two steps, shared by the page's job (`make_lsu_export`) and the `lsu_export` command:
`gather()` reads the period's data into plain dicts and lists, in French, everything the LSU
requires that the establishment's data lacks (`problems`, one line per missing item); `xml()`
writes the file from the dicts. Nothing is written when a problem remains: the LSU refuses a
file with a wrong identifier, and guessing one would attach a bilan to another pupil.

Identifiers the LSU requires, and where they come from:
- the pupil's `id-be` (SIECLE's "identifiant Base Élèves", a positive integer): Membership.be_id,
  kept by the import of SIECLE's pupils export (preau.grades.siecle; the AAF gives the INE only,
  which the schema has no place for);
- the teacher's `id-sts` (STS-Web's individual id): Membership.sts_id, kept by the STS-Web
  structure import (preau.timetable.imports);
- the discipline's `code` (the national subject code, 6 characters): Subject.code, the
  MATIERE code of STS-Web's nomenclature for subjects its import created;
- the class's `code-division` (at most 8 characters): the class's name;
- the head of establishment (`responsable-etab`): the first current member of the direction.

What the schema requires and Préau does not model, or what could not be confirmed from the
published schema alone, is in ASSUMPTIONS below (and in app/README.md, "LSU").
"""

from __future__ import annotations

import datetime as dt
import re
from fractions import Fraction
from typing import Any
from xml.etree import ElementTree as ET

from django.db import transaction
from django.utils import timezone

from preau.attendance.models import Absence
from preau.core.models import ClassGroup, ClassMembership, Membership, TeachingAssignment
from preau.ent import files
from preau.grades import averages, periods
from preau.grades.bulletins import period_figures
from preau.grades.models import LsuExport, Period, SocleComponent

TASK = "make_lsu_export"
NAMESPACE = "urn:fr:edu:scolarite:lsun:bilans:import"
SCHEMA_LOCATION = f"{NAMESPACE} import-bilan-complet.xsd"
SCHEMA_VERSION = "3.0"

# What the export decides without a source in the schema's text or in Préau's data: each is a
# choice to confirm against the LSU's import (its documentation or a test file accepted).
ASSUMPTIONS: dict[str, Any] = {
    # entete: who made the file.
    "editeur": "Préau",
    "application": "Préau",
    # periode/@millesime: the school year's first calendar year (2026 for 2026-2027).
    "millesime": "start year",
    # discipline/@modalite-election: every subject taught to all ("S", tronc commun); Préau
    # does not know options (O, F) nor the other modalities.
    "modalite_election": "S",
    # enseignant/@type: every teacher of the national education ("epp"), none "local".
    "enseignant_type": "epp",
    # element-programme: the schema requires at least one per acquis and Préau has no
    # "éléments de programme travaillés"; one per discipline, labelled so (unique labels).
    "element_programme": "Programme de {label} de la période ({code})",
    # acquis/@moyenne-eleve, @moyenne-structure: on 20, rounded half-up to the hundredth, a
    # decimal comma (as the bulletins show it).
    "average_decimal": ",",
    # bilan-periodique/@date-conseil-classe: Préau does not keep the council's date; the
    # period's last day.
    "date_conseil_classe": "period end",
    # bilan-periodique/@date-scolarite: the pupil's schooling start is not kept; the period's
    # first day.
    "date_scolarite": "period start",
    # bilan-periodique/@date-verrou: the period's publication (an unpublished period is refused).
    "date_verrou": "published_at",
    # vie-scolaire: absences counted in half-days (a lesson before noon is the morning's), a
    # half-day justified when all its absences are; lateness counted one per lesson.
    "noon": dt.time(12, 0),
    # socle: only when the period ends a cycle, i.e. the year's last period for a class whose
    # name starts with the level ending cycle 3 (6e) or cycle 4 (3e).
    "cycle_end_levels": ("6", "3"),
}

NAME_MAX = 100  # NomPrenom
DISCIPLINE_LABEL_MAX = 40  # Chaine40
DIVISION_MAX = 8  # CodeStructure
SUBJECT_CODE = re.compile(r"[0-9A-Z]{6}")
NUMBER = re.compile(r"[1-9][0-9]*")


def _name(user) -> str:
    return f"{user.first_name} {user.last_name}".strip() or user.username


# Characters XML 1.0 cannot hold (a control character pasted into an appreciation): a space.
UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def text(value: str) -> str:
    """A text as the file can hold it: stripped, XML's forbidden characters as spaces."""
    return UNWRITABLE.sub(" ", value).strip()


def average(value: Fraction | None) -> str | None:
    """An average as the export writes it (ASSUMPTIONS["average_decimal"])."""
    shown = averages.rounded(value)
    return None if shown is None else f"{shown:.2f}".replace(".", ASSUMPTIONS["average_decimal"])


def is_cycle_end(period: Period, year_periods: list[Period], class_name: str) -> bool:
    return (
        bool(year_periods)
        and period.pk == year_periods[-1].pk
        and class_name.startswith(ASSUMPTIONS["cycle_end_levels"])
    )


def gather(est, period: Period) -> dict:
    """The period's bilans as plain data ({"entete", "periode", "responsable", "eleves",
    "disciplines", "enseignants", "bilans"}) and `problems`: what the LSU requires and the
    data lacks, one French line each (the export is refused while there is one)."""
    problems: list[str] = []
    if period.published_at is None:
        problems.append(
            f"La période « {period.name} » n'est pas publiée : publiez-la (après le conseil de "
            "classe) avant l'export, sa publication est la date de verrouillage des bilans."
        )
    head = (
        Membership.objects.current()
        .filter(establishment=est, profile="DIR")
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "pk")
        .first()
    )
    if head is None:
        problems.append(
            "Aucun membre de la direction : le responsable de l'établissement est requis."
        )
    pupils, pupil_class, members = _pupils(est, period)
    if not pupils:
        problems.append(f"Aucun élève dans les classes de l'année {period.school_year}.")
    subjects, said, levels = period_figures(est, period, pupils)
    year_periods = periods.periods_of(est.pk, period.school_year)
    teachers = _teachers(est, period)
    counts = _attendance(est, period, pupils)

    found: dict[str, dict] = {"disciplines": {}, "enseignants": {}}
    bilans = []
    for pupil in pupils:
        who = f"{_name(pupil)} ({pupil_class[pupil.pk].name})"
        be_id = (members[pupil.pk].be_id or "").strip()
        if not NUMBER.fullmatch(be_id):
            problems.append(
                f"{who} : identifiant Base Élèves manquant ou invalide (importez l'export des élèves de SIECLE)."
            )
        class_group = pupil_class[pupil.pk]
        acquis = _acquis(
            subjects[pupil.pk], class_group, teachers, said.get(pupil.pk, {}), found, problems
        )
        if not acquis:
            problems.append(f"{who} : aucune note dans une matière sur la période.")
        general = text(said.get(pupil.pk, {}).get(None, ""))
        if not general:
            problems.append(f"{who} : appréciation générale du conseil de classe manquante.")
        mine = levels.get(pupil.pk, {})
        bilans.append(
            {
                "eleve": f"EL_{pupil.pk}",
                "acquis": acquis,
                "acquis_conseils": general,
                "vie_scolaire": counts.get(
                    pupil.pk, {"retards": 0, "justifiees": 0, "injustifiees": 0}
                ),
                "socle": (
                    [
                        {
                            "code": c.value,
                            "positionnement": mine[c.value].level if c.value in mine else None,
                        }
                        for c in SocleComponent
                    ]
                    if is_cycle_end(period, year_periods, class_group.name)
                    else None
                ),
            }
        )
    division_too_long = sorted({c.name for c in pupil_class.values() if len(c.name) > DIVISION_MAX})
    problems += [
        f"Classe « {name} » : son nom (code de division pour le LSU) dépasse {DIVISION_MAX} "
        "caractères."
        for name in division_too_long
    ]
    published = timezone.localtime(period.published_at) if period.published_at else None
    return {
        "entete": {
            "editeur": ASSUMPTIONS["editeur"],
            "application": ASSUMPTIONS["application"],
            "etablissement": est.uai,
        },
        "periode": {
            "id": f"PER_{period.pk}",
            "millesime": str(period.school_year),
            "indice": next(i for i, p in enumerate(year_periods, 1) if p.pk == period.pk),
            "nb_periodes": len(year_periods),
            "date_conseil_classe": period.end.isoformat(),
            "date_scolarite": period.start.isoformat(),
            "date_verrou": published.strftime("%Y-%m-%dT%H:%M:%S") if published else "",
        },
        "responsable": {"id": "RESP_1", "libelle": _name(head.user)[:NAME_MAX]} if head else None,
        "eleves": [
            {
                "id": f"EL_{p.pk}",
                "id_be": (members[p.pk].be_id or "").strip(),
                "nom": p.last_name[:NAME_MAX],
                "prenom": p.first_name[:NAME_MAX],
                "code_division": pupil_class[p.pk].name,
            }
            for p in pupils
        ],
        "disciplines": sorted(found["disciplines"].values(), key=lambda d: d["code"]),
        "enseignants": sorted(found["enseignants"].values(), key=lambda t: t["id"]),
        "bilans": bilans,
        "problems": list(dict.fromkeys(problems)),
    }


def _pupils(est, period: Period) -> tuple[list, dict[int, ClassGroup], dict[int, Membership]]:
    """The current pupils of the year's classes (in class then name order), each one's class
    and membership (where the LSU's identifier is kept)."""
    classes = list(
        ClassGroup.objects.filter(
            establishment=est, kind="class", school_year=period.school_year
        ).order_by("name")
    )
    pupil_class: dict[int, ClassGroup] = {}
    pupils = []
    for row in (
        ClassMembership.objects.filter(class_group__in=classes)
        .select_related("user", "class_group")
        .order_by("class_group__name", "user__last_name", "user__first_name", "user_id")
    ):
        if row.user_id not in pupil_class:
            pupil_class[row.user_id] = row.class_group
            pupils.append(row.user)
    members = {
        m.user_id: m
        for m in Membership.objects.current().filter(
            establishment=est, user__in=[p.pk for p in pupils]
        )
    }
    pupils = [p for p in pupils if p.pk in members and members[p.pk].profile == "ELV"]
    return pupils, pupil_class, members


def _acquis(rows, class_group, teachers, said: dict, found: dict, problems: list) -> list:
    """A pupil's acquis (one per subject with a subject code), the disciplines and teachers
    they name added to `found`."""
    disciplines, enseignants = found["disciplines"], found["enseignants"]
    acquis = []
    for row in sorted(rows, key=lambda r: r["subject"].code if r["subject"] else ""):
        subject = row["subject"]
        if subject is None:
            continue  # grades without a subject: no national code to name them by
        discipline = disciplines.get(subject.pk) or _discipline(subject, problems)
        disciplines[subject.pk] = discipline
        refs = []
        for teacher in teachers.get((class_group.pk, subject.pk), []):
            if not teacher["id_sts"]:
                problems.append(
                    f"Enseignant {teacher['name']} : identifiant STS manquant ou invalide "
                    "(importez la structure STS-Web)."
                )
                continue
            enseignants.setdefault(teacher["id_sts"], teacher)
            refs.append(teacher["id"])
        if not refs:
            problems.append(
                f"{class_group.name}, {discipline['libelle']} : aucun enseignant avec un "
                "identifiant STS n'enseigne cette matière à la classe."
            )
        acquis.append(
            {
                "discipline": discipline["id"],
                "enseignants": sorted(set(refs)),
                "moyenne_eleve": average(row["average"]),
                "moyenne_structure": average(row["class"]["average"]),
                "appreciation": text(said.get(subject.pk, "")),
            }
        )
    return acquis


def _discipline(subject, problems: list[str]) -> dict:
    label = (subject.label or subject.code).strip()
    if not SUBJECT_CODE.fullmatch(subject.code):
        problems.append(
            f"Matière « {label} » : son code « {subject.code} » n'est pas un code national de "
            "matière (6 caractères) ; importez la structure STS-Web, qui les donne."
        )
    return {
        "id": f"DI_{subject.pk}",
        "code": subject.code,
        "modalite_election": ASSUMPTIONS["modalite_election"],
        "libelle": label[:DISCIPLINE_LABEL_MAX],
        "element_programme": ASSUMPTIONS["element_programme"].format(
            label=label, code=subject.code
        ),
    }


def _teachers(est, period: Period) -> dict[tuple[int, int], list[dict]]:
    """{(class id, subject id): its teachers as the export names them}: those teaching the
    subject to the class or to a group holding some of its pupils; "id_sts" is "" for a
    teacher without a valid STS id (a problem once a bilan needs them)."""
    sts = dict(
        Membership.objects.filter(establishment=est, profile="ENS").values_list("user_id", "sts_id")
    )
    # Each class or group of the year -> the classes whose pupils are in it.
    classes_of: dict[int, set[int]] = {}
    for class_id, other_id in (
        ClassMembership.objects.filter(
            class_group__establishment=est,
            class_group__school_year=period.school_year,
            class_group__kind="class",
            user__classmembership__class_group__school_year=period.school_year,
        )
        .values_list("class_group_id", "user__classmembership__class_group_id")
        .distinct()
    ):
        classes_of.setdefault(other_id, set()).add(class_id)
    found: dict[tuple[int, int], list[dict]] = {}
    for teaching in TeachingAssignment.objects.filter(
        establishment=est, class_group__school_year=period.school_year, subject__isnull=False
    ).select_related("teacher"):
        sts_id = (sts.get(teaching.teacher_id) or "").strip()
        teacher = {
            "id": f"ENS_{sts_id}",
            "id_sts": sts_id if NUMBER.fullmatch(sts_id) else "",
            "type": ASSUMPTIONS["enseignant_type"],
            "nom": teaching.teacher.last_name[:NAME_MAX],
            "prenom": teaching.teacher.first_name[:NAME_MAX],
            "name": _name(teaching.teacher),
        }
        for class_id in classes_of.get(teaching.class_group_id, ()):
            found.setdefault((class_id, teaching.subject_id), []).append(teacher)
    return found


def _attendance(est, period: Period, pupils) -> dict[int, dict]:
    """Per pupil: lateness, and absences in half-days justified or not (ASSUMPTIONS)."""
    late: dict[int, int] = {}
    half_days: dict[tuple[int, dt.date, bool], bool] = {}
    for row in Absence.objects.filter(
        establishment=est, student__in=pupils, date__range=(period.start, period.end)
    ).only("student_id", "date", "start", "kind", "status"):
        if row.kind == Absence.Kind.LATE:
            late[row.student_id] = late.get(row.student_id, 0) + 1
            continue
        key = (row.student_id, row.date, row.start < ASSUMPTIONS["noon"])
        accepted = row.status == Absence.Status.ACCEPTED
        half_days[key] = half_days.get(key, True) and accepted
    counts: dict[int, dict] = {}
    for pupil in pupils:
        mine = [ok for (who, _, _), ok in half_days.items() if who == pupil.pk]
        counts[pupil.pk] = {
            "retards": late.get(pupil.pk, 0),
            "justifiees": sum(mine),
            "injustifiees": len(mine) - sum(mine),
        }
    return counts


def xml(data: dict) -> bytes:
    """The LSU import file of gathered data without problems (UTF-8, with its declaration)."""
    ET.register_namespace("", NAMESPACE)
    ET.register_namespace("xsi", "http://www.w3.org/2001/XMLSchema-instance")

    def el(parent, tag: str, **attrs) -> ET.Element:
        shown = {k.replace("_", "-"): str(v) for k, v in attrs.items() if v not in (None, "")}
        return ET.SubElement(parent, f"{{{NAMESPACE}}}{tag}", shown)

    root = ET.Element(
        f"{{{NAMESPACE}}}lsun-bilans",
        {
            "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation": SCHEMA_LOCATION,
            "schemaVersion": SCHEMA_VERSION,
        },
    )
    entete = el(root, "entete")
    for key, value in data["entete"].items():
        el(entete, key).text = value
    donnees = el(root, "donnees")
    el(el(donnees, "responsables-etab"), "responsable-etab", **data["responsable"])
    eleves = el(donnees, "eleves")
    for eleve in data["eleves"]:
        el(eleves, "eleve", **eleve)
    p = data["periode"]
    el(
        el(donnees, "periodes"),
        "periode",
        id=p["id"],
        millesime=p["millesime"],
        indice=p["indice"],
        nb_periodes=p["nb_periodes"],
    )
    disciplines = el(donnees, "disciplines")
    for d in data["disciplines"]:
        el(
            disciplines,
            "discipline",
            id=d["id"],
            code=d["code"],
            modalite_election=d["modalite_election"],
            libelle=d["libelle"],
        )
    enseignants = el(donnees, "enseignants")
    for t in data["enseignants"]:
        el(
            enseignants,
            "enseignant",
            id=t["id"],
            type=t["type"],
            id_sts=t["id_sts"],
            nom=t["nom"],
            prenom=t["prenom"],
        )
    programme = el(donnees, "elements-programme")
    for d in data["disciplines"]:
        el(programme, "element-programme", id=f"EP_{d['id']}", libelle=d["element_programme"])
    bilans = el(donnees, "bilans-periodiques")
    for bilan in data["bilans"]:
        node = el(
            bilans,
            "bilan-periodique",
            eleve_ref=bilan["eleve"],
            periode_ref=p["id"],
            date_conseil_classe=p["date_conseil_classe"],
            date_scolarite=p["date_scolarite"],
            date_verrou=p["date_verrou"],
            responsable_etab_ref=data["responsable"]["id"],
        )
        liste = el(node, "liste-acquis")
        for a in bilan["acquis"]:
            acquis = el(
                liste,
                "acquis",
                discipline_ref=a["discipline"],
                enseignant_refs=" ".join(a["enseignants"]),
                element_programme_refs=f"EP_{a['discipline']}",
                moyenne_eleve=a["moyenne_eleve"],
                moyenne_structure=a["moyenne_structure"],
                eleve_non_note="true" if a["moyenne_eleve"] is None else None,
                structure_non_notee="true" if a["moyenne_structure"] is None else None,
            )
            if a["appreciation"]:
                el(acquis, "appreciation").text = a["appreciation"]
        el(node, "acquis-conseils").text = bilan["acquis_conseils"]
        v = bilan["vie_scolaire"]
        el(
            node,
            "vie-scolaire",
            nb_retards=v["retards"],
            nb_abs_justifiees=v["justifiees"],
            nb_abs_injustifiees=v["injustifiees"],
        )
        if bilan["socle"] is not None:
            socle = el(node, "socle")
            for domaine in bilan["socle"]:
                el(socle, "domaine", code=domaine["code"], positionnement=domaine["positionnement"])
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def create_export(est, period: Period, *, by: str) -> LsuExport:
    """A new export of this period, its job deferred in the same transaction."""
    with transaction.atomic():
        export = LsuExport(establishment=est, period=period, requested_by=by)
        export.save()
        export.defer(TASK)
    return export


def make(export_id: int) -> dict:
    """The job's work: the file stored, or the problems kept; an export already made is left
    as it is (a job run again changes nothing)."""
    with transaction.atomic():
        export = (
            LsuExport.objects.select_for_update()
            .select_related("establishment", "period")
            .get(pk=export_id)
        )
        if export.made_at is None:
            est, period = export.establishment, export.period
            data = gather(est, period)
            export.problems = data["problems"]
            if not data["problems"]:
                export.pupils = len(data["bilans"])
                name = f"lsu-{est.uai}-{period.school_year}-{period.pk}-{timezone.now():%Y%m%d}.xml"
                export.file = files.store_generated(est, name, xml(data), "application/xml")
            export.made_at = timezone.now()
            export.save()
    return {"export": export.pk, "pupils": export.pupils, "problems": len(export.problems)}
