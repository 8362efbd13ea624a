"""Timetable and structure imports (issue #18 item 2): one path for the three formats a collège
has at hand, the page's upload (through a background job) and the `import_timetable` command
alike.

- **CSV** `classe;jour;debut;fin;matiere;enseignant;salle[;semaine]` (teacher by login);
- **STS-Web structure** (preau.timetable.sts.parse_structure): creates or updates subjects,
  creates the classes and groups of the current school year, the teaching assignments (teacher ×
  class × subject), keeps each teacher's STS id (Membership.sts_id); never deletes anything;
- **EDT/UDT timetable** (sts.parse_timetable): replaces the lessons of the classes and groups it
  names, as the CSV does;
- **SIECLE pupils** (`ElevesSansAdresses.xml`, preau.grades.siecle): each pupil's identifiant
  Base Élèves (Membership.be_id, which the LSU export needs), matched by INE.

A file may come zipped (one XML file in a ZIP archive, as SIECLE's exports are downloaded).

All or nothing: `run` resolves every line against the establishment first (its classes of the
current year, its current teachers, its subjects: another establishment's are unknown here) and
writes only when no line is refused, in one transaction: a class's week is replaced whole or
not at all (its row locked meanwhile, as the roll call does). A refused line refuses the file;
the report lists every refused line. The page offers no "import the valid lines anyway": a
timetable missing some lessons looks right and is wrong.

The page (views.timetable_import) only stores the file and defers the job `import_timetable`
(create_batch); the job (make) runs the import and keeps its report on the TimetableImport row.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter, defaultdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from preau.core import metrics
from preau.core.models import (
    ClassGroup,
    EstablishmentAlias,
    Membership,
    OperationLog,
    Platform,
    Subject,
    TeachingAssignment,
)
from preau.ent import files
from preau.grades import siecle
from preau.timetable import sts
from preau.timetable.models import TimetableImport, TimetableSlot, Weekday, WeekParity

TASK = "import_timetable"
KIND = "import_timetable"
# What the page accepts: the type comes from the extension (preau.ent.files).
UPLOAD_TYPES = {
    "csv": "text/csv",
    "txt": "text/plain",
    "xml": "application/xml",
    "zip": "application/zip",
}
CSV_COLUMNS = ("classe", "jour", "debut", "fin", "matiere", "enseignant", "salle")
DAYS = {label.lower(): value for value, label in Weekday.choices}
PARITIES = {"": "", "a": WeekParity.A, "b": WeekParity.B}
# The report's counts, in the order and words the page and the command show.
COUNT_LABELS = {
    "subjects_created": "matière(s) créée(s)",
    "subjects_updated": "matière(s) renommée(s)",
    "classes_created": "classe(s) ou groupe(s) créé(s)",
    "teachers_linked": "enseignant(s) reconnu(s) par leur identifiant STS",
    "assignments_created": "service(s) d'enseignement créé(s)",
    "classes_replaced": "classe(s) ou groupe(s) dont l'emploi du temps est remplacé",
    "slots_deleted": "cours remplacé(s)",
    "slots_created": "cours importé(s)",
    "be_ids_set": "élève(s) relié(s) à leur identifiant Base Élèves",
    "be_ids_changed": "élève(s) dont l'identifiant Base Élèves a changé",
    "pupils_unchanged": "élève(s) déjà relié(s) à cet identifiant",
    "pupils_left": "élève(s) sorti(s) de l'établissement, ignoré(s)",
}
KINDS = {"class": "classe", "group": "groupe"}


def create_batch(est, uploaded, fmt: str, user) -> TimetableImport:
    """Store the uploaded file (the platform's upload checks: type, size, antivirus, quotas:
    files.Refused) and defer its import, in one transaction."""
    with transaction.atomic():
        source = files.store(est, uploaded, user, UPLOAD_TYPES)
        batch = TimetableImport(
            establishment=est, format=fmt, source=source, requested_by=user.username
        )
        batch.save()
        batch.defer(TASK)
    return batch


def make(batch_id: int) -> dict:
    """The job's work: the import of the batch's file and its report, kept with the batch in
    the same transaction; a batch already made is left alone (a job run again changes
    nothing)."""
    with transaction.atomic():
        batch = (
            TimetableImport.objects.select_for_update(of=("self", "establishment"))
            .select_related("establishment", "source")
            .get(pk=batch_id)
        )
        if batch.made_at is None:
            data = b"".join(files.chunks(batch.source))
            batch.report = run(batch.establishment, data, batch.format)
            batch.made_at = timezone.now()
            batch.save(update_fields=["report", "made_at"])
    return {
        "import": batch.pk,
        "applied": batch.report.get("applied"),
        "refused": len(batch.report.get("refused", [])),
    }


def run(est, data: bytes, fmt: str = "", *, dry_run: bool = False) -> dict:
    """Import `data` (format "csv", "sts", "edt", "bee", or "" to recognise it; zipped or not)
    into establishment `est`: {"format", "applied", "dry_run", "counts", "refused"}. Nothing is
    written when a line is refused or for a dry run."""
    report: dict = {"format": fmt, "applied": False, "dry_run": dry_run, "counts": {}}
    refused: list[str] = []
    try:
        data = siecle.unzipped(data)
        report["format"] = fmt = fmt or ("bee" if siecle.is_siecle(data) else sts.sniff(data))
        with transaction.atomic():
            counts, refused = IMPORTERS[fmt](est, data)
            if refused or dry_run:
                transaction.set_rollback(True)
            else:
                report["applied"] = True
            report["counts"] = {k: counts[k] for k in COUNT_LABELS if counts.get(k)}
            if report["applied"]:
                OperationLog.objects.create(
                    establishment=est, kind=KIND, summary={**report, "refused": []}
                )
    except sts.Unreadable as exc:
        refused = [str(exc)]
    report["refused"] = refused
    result = "rejected" if refused else ("dry_run" if dry_run else "ok")
    metrics.IMPORTS.labels(kind=KIND, result=result).inc()
    return report


def _check_file(est, found: sts.StsFile | siecle.SiecleFile) -> None:
    """A file of another establishment or school year is refused whole."""
    if found.uai and found.uai != est.uai:
        alias = EstablishmentAlias.objects.filter(uai=found.uai, establishment=est).exists()
        if not alias:
            raise sts.Unreadable(
                f"ce fichier est celui de l'établissement {found.uai}, pas de {est.uai} "
                f"({est.name}) : rien n'a été importé"
            )
    year = Platform.current_school_year()
    if found.year and found.year != year:
        raise sts.Unreadable(
            f"ce fichier est celui de l'année scolaire {found.year}-{found.year + 1}, l'année en "
            f"cours est {year}-{year + 1} : rien n'a été importé"
        )


def _classes(est) -> dict[tuple[str, str], ClassGroup]:
    """The establishment's classes and groups of the current year, by (kind, name lowered)."""
    year = Platform.current_school_year()
    return {
        (c.kind, c.name.lower()): c for c in ClassGroup.objects.of(est).filter(school_year=year)
    }


class Subjects:
    """The establishment's subjects found by any name a file gives: a code (the national one
    or STS's CODE_GESTION) or a label, compared without case nor accents, through the file's
    nomenclature when it has one."""

    def __init__(self, est, nomenclature: list[sts.SubjectRow] | None = None) -> None:
        self.keys: dict[str, Subject] = {}
        for subject in Subject.objects.of(est).order_by("pk"):
            self.add(subject)
        self.rows = {row.code: row for row in nomenclature or []}

    def add(self, subject: Subject) -> None:
        for name in (subject.code, subject.label):
            if name:
                self.keys.setdefault(sts.plain(name), subject)

    def find(self, code: str) -> Subject | None:
        row = self.rows.get(code)
        names = [code, *((row.management_code, row.label) if row else ())]
        return next((self.keys[sts.plain(n)] for n in names if sts.plain(n) in self.keys), None)


def _teacher_finder(est, people: dict[str, sts.Person]):
    """find(STS id) → the current teacher's Membership, or the French reason there is none: by
    the id kept from an earlier STS-Web import, else by last and first name (exactly one
    teacher of the establishment of that name)."""
    members = list(
        Membership.objects.of(est).current().filter(profile="ENS").select_related("user")
    )
    by_id = {m.sts_id: m for m in members if m.sts_id}
    by_name = defaultdict(list)
    for member in members:
        by_name[(sts.plain(member.user.last_name), sts.plain(member.user.first_name))].append(
            member
        )

    def find(sts_id: str) -> Membership | str:
        if sts_id in by_id:
            return by_id[sts_id]
        person = people.get(sts_id)
        if person is None:
            return f"enseignant n° {sts_id} inconnu (absent du fichier et des imports STS-Web)"
        named = by_name.get((sts.plain(person.last_name), sts.plain(person.first_name)), [])
        if not named:
            return f"enseignant {person.label} inconnu parmi les enseignants de l'établissement"
        if len(named) > 1:
            return f"enseignant {person.label} ambigu : {len(named)} enseignants de ce nom"
        return named[0]

    return find


# --- STS-Web structure -------------------------------------------------------------------------


def import_structure(est, data: bytes) -> tuple[Counter, list[str]]:
    found = sts.parse_structure(data)
    _check_file(est, found)
    errors = list(found.errors)
    subjects = Subjects(est, found.subjects)
    listed = {row.code for row in found.subjects}
    find_teacher = _teacher_finder(est, found.people)
    services = []
    for service in found.services:
        where = f"ligne {service.line} ({service.structure})"
        if service.subject not in listed and subjects.find(service.subject) is None:
            errors.append(f"{where} : matière « {service.subject} » absente du fichier")
        teachers = []
        for sts_id in service.teachers:
            member = find_teacher(sts_id)
            if isinstance(member, str):
                errors.append(f"{where} : {member}")
            else:
                teachers.append((sts_id, member))
        services.append((service, teachers))
    if errors:
        return Counter(), errors
    return _apply_structure(est, found, subjects, services), []


def _apply_structure(est, found: sts.StsFile, subjects: Subjects, services) -> Counter:
    """Write what a refused-nothing structure file says: subjects, classes and groups,
    teachers' STS ids, teaching assignments (created or updated, never deleted)."""
    counts: Counter = Counter()
    for row in found.subjects:
        label = row.label or row.management_code or row.code
        subject = subjects.find(row.code)
        if subject is None:
            subject = Subject.objects.create(establishment=est, code=row.code[:64], label=label)
            subjects.add(subject)
            counts["subjects_created"] += 1
        elif subject.label != label[:200]:
            subject.label = label[:200]
            subject.save(update_fields=["label"])
            counts["subjects_updated"] += 1
    classes = _classes(est)
    for kind, code in found.structures:
        if (kind, code.lower()) not in classes:
            classes[(kind, code.lower())] = ClassGroup.objects.create(
                establishment=est,
                kind=kind,
                name=code[:120],
                school_year=Platform.current_school_year(),
            )
            counts["classes_created"] += 1
    for service, teachers in services:
        class_group = classes[(service.kind, service.structure.lower())]
        subject = subjects.find(service.subject)
        for sts_id, member in teachers:
            if member.sts_id != sts_id:
                member.sts_id = sts_id
                member.save(update_fields=["sts_id"])
                counts["teachers_linked"] += 1
            _, created = TeachingAssignment.objects.get_or_create(
                establishment=est,
                teacher_id=member.user_id,
                class_group=class_group,
                subject=subject,
            )
            counts["assignments_created"] += created
    return counts


# --- timetables: EDT/UDT and CSV ---------------------------------------------------------------


def import_edt(est, data: bytes) -> tuple[Counter, list[str]]:
    found = sts.parse_timetable(data)
    _check_file(est, found)
    errors = list(found.errors)
    classes, subjects = _classes(est), Subjects(est, found.subjects)
    find_teacher = _teacher_finder(est, found.people)
    pairs = []
    for lesson in found.lessons:
        where = f"ligne {lesson.line} ({lesson.structure})"
        class_group = classes.get((lesson.kind, lesson.structure.lower()))
        subject = subjects.find(lesson.subject)
        member = find_teacher(lesson.teacher) if lesson.teacher else None
        wrong = [
            f"{KINDS[lesson.kind]} « {lesson.structure} » inconnu(e) dans l'établissement "
            "(année en cours)"
            if class_group is None
            else "",
            f"matière « {lesson.subject} » inconnue" if subject is None else "",
            member if isinstance(member, str) else "",
        ]
        errors += [f"{where} : {problem}" for problem in wrong if problem]
        if not any(wrong):
            teacher = member.user if isinstance(member, Membership) else None
            pairs.append((lesson, _slot(est, lesson, class_group, subject, teacher)))
    return _replace(est, pairs, errors)


def parse_csv(est, data: bytes) -> tuple[list[tuple[sts.Lesson, TimetableSlot]], list[str]]:
    """CSV `classe;jour;debut;fin;matiere;enseignant;salle[;semaine]` → (line, slot not saved)
    pairs and the refused lines; `semaine` is A, B or empty (every week), `enseignant` a login,
    `matiere` a subject's code or label (unknown: none)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise sts.Unreadable("le fichier n'est pas en UTF-8") from None
    reader = csv.DictReader(io.StringIO(text), delimiter=";")
    header = {(name or "").strip().lower() for name in reader.fieldnames or []}
    if not set(CSV_COLUMNS) <= header:
        raise sts.Unreadable(
            "ligne 1 : en-tête attendu « " + ";".join(CSV_COLUMNS) + "[;semaine] » (CSV séparé "
            "par des points-virgules), ou un export XML de STS-Web, d'EDT ou d'UDT"
        )
    classes = {name: c for (_, name), c in _classes(est).items()}
    subjects = Subjects(est)
    teachers = {
        m.user.username: m.user
        for m in Membership.objects.of(est).current().filter(profile="ENS").select_related("user")
    }
    pairs, errors = [], []
    for n, raw in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        where = f"ligne {n}"
        class_group = classes.get(row.get("classe", "").lower())
        day = DAYS.get(row.get("jour", "").lower())
        start, end = sts.hhmm(row.get("debut", "")), sts.hhmm(row.get("fin", ""))
        if start is None or end is None:
            errors.append(f"{where} : heures invalides (format HH:MM)")
            continue
        wrong = []
        if class_group is None:
            wrong.append(f"{where} : classe « {row.get('classe', '')} » inconnue")
        if day is None:
            wrong.append(f"{where} : jour « {row.get('jour', '')} » invalide")
        if end <= start:
            wrong.append(f"{where} : la fin précède le début")
        elif end > sts.LAST_END:
            wrong.append(f"{where} : le cours finit après {sts.LAST_END:%H:%M}")
        parity = PARITIES.get(row.get("semaine", "").lower())
        if parity is None:
            wrong.append(f"{where} : semaine « {row['semaine']} » invalide (A, B ou vide)")
        login = row.get("enseignant", "")
        teacher = teachers.get(login.lower()) if login else None
        if login and teacher is None:
            wrong.append(f"{where} : enseignant « {login} » inconnu")
        errors += wrong
        if class_group and day and parity is not None and not wrong:
            lesson = sts.Lesson(
                n, "", class_group.name, row.get("matiere", ""), login, day, start, end, parity,
                row.get("salle", "")[:40],
            )  # fmt: skip
            subject = subjects.find(lesson.subject)
            pairs.append((lesson, _slot(est, lesson, class_group, subject, teacher)))
    errors += sts.overlaps([lesson for lesson, _ in pairs])
    return pairs, errors


def import_csv(est, data: bytes) -> tuple[Counter, list[str]]:
    pairs, errors = parse_csv(est, data)
    return _replace(est, pairs, errors)


def _slot(est, lesson: sts.Lesson, class_group, subject, teacher) -> TimetableSlot:
    return TimetableSlot(
        establishment=est,
        class_group=class_group,
        subject=subject,
        teacher=teacher,
        weekday=lesson.weekday,
        start=lesson.start,
        end=lesson.end,
        room=lesson.room,
        week_parity=lesson.parity,
    )


def _replace(est, pairs, errors: list[str]) -> tuple[Counter, list[str]]:
    """The lessons of the classes and groups named replace theirs, unless a line is refused or
    one of them meets a lesson its teacher keeps in a class the file leaves alone. The classes'
    rows are locked first: a roll call or another import of them waits."""
    counts: Counter = Counter()
    class_ids = sorted({slot.class_group_id for _, slot in pairs})
    list(ClassGroup.objects.select_for_update().filter(pk__in=class_ids).order_by("pk"))
    errors = errors + _teachers_kept_busy(est, pairs, class_ids)
    if errors:
        return counts, errors
    replaced = TimetableSlot.objects.filter(establishment=est, class_group_id__in=class_ids)
    counts["slots_deleted"] = replaced.count()
    replaced.delete()
    TimetableSlot.objects.bulk_create([slot for _, slot in pairs])
    counts.update(classes_replaced=len(class_ids), slots_created=len(pairs))
    return counts, []


def _teachers_kept_busy(est, pairs, class_ids) -> list[str]:
    """A line per imported lesson whose teacher has, at the same time, a lesson of a class or
    group the file does not replace."""
    teachers = {slot.teacher_id for _, slot in pairs if slot.teacher_id}
    kept: dict[tuple[int, int], list[TimetableSlot]] = defaultdict(list)
    for slot in (
        TimetableSlot.objects.filter(establishment=est, teacher_id__in=teachers)
        .exclude(class_group_id__in=class_ids)
        .select_related("class_group", "teacher")
    ):
        kept[(slot.teacher_id, slot.weekday)].append(slot)
    errors = []
    for lesson, slot in pairs:
        for other in kept.get((slot.teacher_id, slot.weekday), []):
            weeks_meet = not other.week_parity or not slot.week_parity
            if (
                other.start < slot.end
                and slot.start < other.end
                and (weeks_meet or other.week_parity == slot.week_parity)
            ):
                errors.append(
                    f"ligne {lesson.line} : {other.teacher} a déjà un cours le "
                    f"{sts.DAYS[slot.weekday]} à {other.start:%H:%M} en {other.class_group.name}"
                )
                break
    return errors


# --- SIECLE's pupils ----------------------------------------------------------------------------


def import_siecle(est, data: bytes) -> tuple[Counter, list[str]]:
    found = siecle.parse(data)
    _check_file(est, found)
    return siecle.link(est, found)


IMPORTERS = {"csv": import_csv, "sts": import_structure, "edt": import_edt, "bee": import_siecle}


def lines(report: dict) -> list[str]:
    """The report's counts in French, for the page and the command."""
    return [f"{n} {COUNT_LABELS[key]}" for key, n in report.get("counts", {}).items()]


def expire(now) -> int:
    """Retention (purge_gone): the uploaded files of imports that ran more than [retention]
    timetable_imports_days ago leave their import (its report stays); purge_orphans then
    deletes them. Every establishment's; how many."""
    cutoff = now - dt.timedelta(days=settings.RETENTION["timetable_imports_days"])
    return TimetableImport._base_manager.filter(made_at__lt=cutoff, source__isnull=False).update(
        source=None
    )
