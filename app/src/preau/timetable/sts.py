"""Reading the two XML files of the ministry's STS-Web and of the timetable tools (EDT, UDT) that
collèges use (issue #18 item 2): parsing only, pure functions, no database. Resolving what is read
against an establishment (its classes, teachers, subjects) and applying it is
preau.timetable.imports' work.

Uploaded XML is read with defusedxml only (entity declarations, hence "billion laughs" bombs
and external entities, are refused): never the standard library's parser.

1. **STS-Web structure export** (`sts_emp_<UAI>_<année>.xml`, root `STS_EDT`): the subjects'
   nomenclature (MATIERE: national code, CODE_GESTION, labels), the individuals (INDIVIDU ID,
   names, FONCTION), the classes (DIVISION) and groups (GROUPE), each with its SERVICES (a
   subject, CODE_MATIERE, and its ENSEIGNANTS by individual ID).
2. **Timetable export of EDT/UDT for STS** (`emp_sts_<UAI>_<année>.xml`, root `EDT_STS`; a file
   of root `STS_EDT` holding lessons is read the same way): the same DIVISION/GROUPE → SERVICE →
   ENSEIGNANT tree, each teacher's lessons in COURS_RATTACHES/COURS (JOUR, HEURE_DEBUT, DUREE,
   CODE_ALTERNANCE, CODE_SALLE), the week alternations in ALTERNANCES/ALTERNANCE.

What the element names rest on (the ministry publishes neither format): the structure export's
names are those every free reader of it uses (SambaEdu's and GEPI's STS readers, a Java ENT's
STS_EDT/EDT_STS import) and agree on; the timetable export's names (COURS_RATTACHES, COURS,
JOUR, HEURE_DEBUT, DUREE, CODE_ALTERNANCE, CODE_SALLE, ALTERNANCES) come from the two readers of
it found, a Java ENT's import and a timetable tool's writer, whose own notes say the format is
deduced, not published. **Assumptions** of this module, beyond those names:
- JOUR is 1 (Monday) … 6 (Saturday);
- HEURE_DEBUT and DUREE are HHMM without separator ("0830", "0100"; "08:30" is accepted too);
- an alternation means every week when its code (or short label) is H (hebdomadaire), week A
  when it is A, SA, Q1, SEMAINE A, week B when it is B, SB, Q2, SEMAINE B; any other one (a
  calendar of its own, SEMAINES) is refused, since Préau has weeks A/B only;
- the UAI is PARAMETRES/UAJ (its CODE attribute in STS_EDT, its text in EDT_STS) and the school
  year PARAMETRES/ANNEE_SCOLAIRE's ANNEE attribute (its first year); a file without them is read
  (the timetable tools' writer found omits PARAMETRES), one naming another UAI or year refused;
- a lesson given by two teachers (co-teaching) is listed under each: the same class, subject,
  day, time and weeks twice is one lesson, its first teacher kept (a slot has one teacher).
All the element and attribute names are the one table TAG below: a real file that differs is fixed
there.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser


class TAG:
    """Every element and attribute name read, in one place (module docstring: what is assumed)."""

    structure_root = "STS_EDT"
    timetable_root = "EDT_STS"
    parameters = "PARAMETRES"
    uai = "UAJ"
    uai_code = "CODE"
    year = "ANNEE_SCOLAIRE"
    year_value = "ANNEE"
    subject = "MATIERE"  # in NOMENCLATURES/MATIERES
    subject_code = "CODE"
    subject_management_code = "CODE_GESTION"
    subject_labels = ("LIBELLE_EDITION", "LIBELLE_LONG", "LIBELLE_COURT")
    individual = "INDIVIDU"  # in DONNEES/INDIVIDUS
    individual_id = "ID"
    last_names = ("NOM_USAGE", "NOM_PATRONYMIQUE")
    first_name = "PRENOM"
    division = "DIVISION"  # in STRUCTURE/DIVISIONS: a class
    group = "GROUPE"  # in STRUCTURE/GROUPES: a group
    structure_code = "CODE"
    service = "SERVICE"  # in DIVISION or GROUPE / SERVICES
    service_subject = "CODE_MATIERE"
    teacher = "ENSEIGNANT"  # in SERVICE/ENSEIGNANTS
    teacher_id = "ID"
    lesson = "COURS"  # in ENSEIGNANT/COURS_RATTACHES
    day = "JOUR"
    start = "HEURE_DEBUT"
    duration = "DUREE"
    alternation_code = "CODE_ALTERNANCE"
    room = "CODE_SALLE"
    alternation = "ALTERNANCE"  # in ALTERNANCES
    alternation_key = "CODE"
    alternation_label = "LIBELLE_COURT"


# Préau's weeks: "" every week, "A", "B" (timetable.models.WeekParity).
PARITY_WORDS = {
    "": ("H", "HEBDO", "HEBDOMADAIRE", "TOUTES"),
    "A": ("A", "SA", "SEMA", "SEMAINEA", "Q1"),
    "B": ("B", "SB", "SEMB", "SEMAINEB", "Q2"),
}
LAST_END = dt.time(20, 0)  # no lesson ends later
DAYS = {1: "lundi", 2: "mardi", 3: "mercredi", 4: "jeudi", 5: "vendredi", 6: "samedi"}


class Unreadable(Exception):
    """The whole file is refused (not XML, a bomb, the wrong root): the message is French."""


@dataclass
class Person:
    id: str
    last_name: str
    first_name: str

    @property
    def label(self) -> str:
        return f"{self.last_name} {self.first_name} (STS n° {self.id})"


@dataclass
class Service:
    """A class's or group's subject and the teachers (STS ids) who teach it."""

    line: int
    kind: str  # "class" (DIVISION) or "group" (GROUPE)
    structure: str
    subject: str
    teachers: list[str]


@dataclass
class SubjectRow:
    code: str
    management_code: str
    label: str


@dataclass
class Lesson:
    """One weekly lesson, as read (nothing resolved): `teacher` and `subject` are keys of the
    file's format (an STS id and subject code, or a login and a subject's code or label)."""

    line: int
    kind: str  # "class", "group", or "" (CSV: a class or group of that name)
    structure: str
    subject: str
    teacher: str
    weekday: int
    start: dt.time
    end: dt.time
    parity: str
    room: str


@dataclass
class StsFile:
    """What a file says; `errors` are its refused lines (« ligne N : … »)."""

    format: str  # "sts" or "edt"
    uai: str = ""
    year: int | None = None
    subjects: list[SubjectRow] = field(default_factory=list)
    people: dict[str, Person] = field(default_factory=dict)
    structures: list[tuple[str, str]] = field(default_factory=list)  # (kind, code), file order
    services: list[Service] = field(default_factory=list)
    lessons: list[Lesson] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class _LineBuilder(TreeBuilder):
    """Elements with the line they start on (the parser's position at each start tag), so that
    a refused element is named by its line in the file."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[Element, int] = {}
        self.expat = None

    def start(self, tag, attrs):
        element = super().start(tag, attrs)
        self.lines[element] = self.expat.CurrentLineNumber if self.expat else 0
        return element


def read_xml(data: bytes) -> tuple[Element, dict[Element, int]]:
    """The document's root and each element's line; Unreadable for anything not plain XML (an
    entity declaration is refused whatever it holds: a bomb, an external file)."""
    builder = _LineBuilder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=False)
    builder.expat = parser.parser
    try:
        parser.feed(data)
        root = parser.close()
    except DefusedXmlException:
        raise Unreadable(
            "fichier refusé : il déclare des entités XML (DTD), ce que ne font pas les exports "
            "de STS-Web ni des logiciels d'emploi du temps"
        ) from None
    except ParseError as exc:
        line, column = exc.position
        raise Unreadable(
            f"ligne {line} : fichier XML illisible (erreur de syntaxe à la colonne {column})"
        ) from None
    return root, builder.lines


def sniff(data: bytes) -> str:
    """The format of an uploaded file: "csv" unless it starts as XML; an XML file is "edt" (a
    timetable: root EDT_STS, or lessons in it) or "sts" (root STS_EDT without lessons)."""
    head = data[:200].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"<"):
        return "csv"
    root, _ = read_xml(data)
    if root.tag == TAG.timetable_root or root.find(f".//{TAG.lesson}") is not None:
        return "edt"
    return "sts"


def _text(element: Element | None, *names: str) -> str:
    """The first non-empty text of these children of `element`, stripped."""
    if element is None:
        return ""
    for name in names:
        value = (element.findtext(name) or "").strip()
        if value:
            return value
    return ""


def _root(data: bytes, fmt: str) -> tuple[Element, dict[Element, int], StsFile]:
    root, lines = read_xml(data)
    allowed = (TAG.structure_root,) if fmt == "sts" else (TAG.timetable_root, TAG.structure_root)
    if root.tag not in allowed:
        raise Unreadable(
            f"élément racine « {root.tag} » inattendu : {' ou '.join(allowed)} attendu "
            f"({'export STS-Web sts_emp_…xml' if fmt == 'sts' else 'export EDT/UDT pour STS'})"
        )
    found = StsFile(format=fmt)
    parameters = root.find(TAG.parameters)
    if parameters is not None:
        uai = parameters.find(TAG.uai)
        if uai is not None:
            found.uai = (uai.get(TAG.uai_code) or uai.text or "").strip().upper()
        year = parameters.find(TAG.year)
        value = (year.get(TAG.year_value) or "") if year is not None else ""
        if value.strip().isdigit():
            found.year = int(value)
    for person in root.iter(TAG.individual):
        pid = (person.get(TAG.individual_id) or "").strip()
        if pid:
            found.people[pid] = Person(
                pid, _text(person, *TAG.last_names), _text(person, TAG.first_name)
            )
    for subject in root.iter(TAG.subject):
        code = (subject.get(TAG.subject_code) or "").strip()
        if code:
            found.subjects.append(
                SubjectRow(
                    code,
                    _text(subject, TAG.subject_management_code),
                    _text(subject, *TAG.subject_labels),
                )
            )
    return root, lines, found


def _structures(root: Element):
    """(kind, code, element) of every class (DIVISION) and group (GROUPE) that has a code: a
    DIVISION_APPARTENANCE inside a group is another element, not one of them."""
    for kind, tag in (("class", TAG.division), ("group", TAG.group)):
        for element in root.iter(tag):
            code = (element.get(TAG.structure_code) or "").strip()
            if code:
                yield kind, code, element


def _services(root: Element, lines, found: StsFile):
    """Each SERVICE of each class or group: (service, its element)."""
    for kind, code, element in _structures(root):
        found.structures.append((kind, code))
        for service in element.iter(TAG.service):
            teachers = [
                (teacher.get(TAG.teacher_id) or "").strip() for teacher in service.iter(TAG.teacher)
            ]
            row = Service(
                lines[service],
                kind,
                code,
                (service.get(TAG.service_subject) or "").strip(),
                [t for t in teachers if t],
            )
            if not row.subject:
                found.errors.append(f"ligne {row.line} : service de {code} sans matière")
                continue
            yield row, service


def parse_structure(data: bytes) -> StsFile:
    """The STS-Web structure export: subjects, individuals, classes and groups, their services."""
    root, lines, found = _root(data, "sts")
    found.services = [service for service, _ in _services(root, lines, found)]
    return found


def parse_timetable(data: bytes) -> StsFile:
    """The timetable export of EDT/UDT for STS: every lesson of every teacher of every service,
    checked (day, times, weeks, the end no later than 20:00, no two lessons of one class or
    one teacher at once)."""
    root, lines, found = _root(data, "edt")
    alternations = {
        (alt.get(TAG.alternation_key) or "").strip(): _text(alt, TAG.alternation_label)
        for alt in root.iter(TAG.alternation)
    }
    seen: set[tuple] = set()
    for service, element in _services(root, lines, found):
        for teacher in element.iter(TAG.teacher):
            teacher_id = (teacher.get(TAG.teacher_id) or "").strip()
            for lesson in teacher.iter(TAG.lesson):
                read = _lesson(service, teacher_id, lesson, lines[lesson], alternations)
                if isinstance(read, str):
                    found.errors.append(read)
                    continue
                same = (read.kind, read.structure, read.subject, read.weekday, read.start)
                if (*same, read.end, read.parity) in seen:
                    continue  # co-teaching: the lesson is listed under each of its teachers
                seen.add((*same, read.end, read.parity))
                found.lessons.append(read)
    found.errors += overlaps(
        found.lessons, lambda t: found.people[t].label if t in found.people else f"n° {t}"
    )
    return found


def _lesson(
    service: Service, teacher: str, lesson: Element, line: int, alternations
) -> Lesson | str:
    """One COURS, or the French refusal of its line."""
    where = f"ligne {line} ({service.structure})"
    day_text = _text(lesson, TAG.day)
    if not day_text.isdigit() or int(day_text) not in DAYS:
        return f"{where} : jour « {day_text} » invalide (1 = lundi … 6 = samedi)"
    start = hhmm(_text(lesson, TAG.start))
    duration = hhmm(_text(lesson, TAG.duration))
    if start is None or duration is None or (duration.hour, duration.minute) == (0, 0):
        return f"{where} : heure de début ou durée invalide (HHMM, par exemple 0830 et 0100)"
    minutes = start.hour * 60 + start.minute + duration.hour * 60 + duration.minute
    if minutes > LAST_END.hour * 60 + LAST_END.minute:
        ends = f"{minutes // 60:02d}:{minutes % 60:02d}"
        return f"{where} : le cours finirait à {ends}, après {LAST_END:%H:%M}"
    code = _text(lesson, TAG.alternation_code)
    parity = parity_of(code, alternations.get(code, ""))
    if parity is None:
        return f"{where} : alternance « {code} » non reconnue (H, semaine A ou semaine B)"
    return Lesson(
        line,
        service.kind,
        service.structure,
        service.subject,
        teacher,
        int(day_text),
        start,
        dt.time(minutes // 60, minutes % 60),
        parity,
        _text(lesson, TAG.room)[:40],
    )


def hhmm(value: str) -> dt.time | None:
    """A time written HHMM ("0830") or HH:MM ("08:30", "8h30"), None otherwise."""
    match = re.fullmatch(r"(\d{1,2})[:hH]?(\d{2})", value.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        return None
    return dt.time(int(match[1]), int(match[2]))


def parity_of(code: str, label: str) -> str | None:
    """The weeks of an alternation: "" (every week), "A", "B", or None when neither its code
    nor its short label says which (module docstring)."""
    for word in (code, label):
        key = re.sub(r"[^A-Z0-9]", "", plain(word).upper())
        for parity, words in PARITY_WORDS.items():
            if key in words:
                return parity
    return None


def plain(text: str) -> str:
    """Lower case without accents, spaces squeezed: how names are compared."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).lower().split())


def _weeks_meet(a: str, b: str) -> bool:
    return not a or not b or a == b


def overlaps(lessons: list[Lesson], teacher_name=str) -> list[str]:
    """A French line per lesson that meets an earlier one of the same class or group, or of the
    same teacher (named by `teacher_name(key)`), on the same day, at the same time, in the same
    weeks."""
    errors = []
    by_day: dict[int, list[Lesson]] = {}
    for lesson in lessons:
        for other in by_day.get(lesson.weekday, []):
            if not (other.start < lesson.end and lesson.start < other.end):
                continue
            if not _weeks_meet(other.parity, lesson.parity):
                continue
            when = f"le {DAYS[lesson.weekday]} à {lesson.start:%H:%M}"
            if (other.kind, other.structure) == (lesson.kind, lesson.structure):
                errors.append(
                    f"ligne {lesson.line} : {lesson.structure} a déjà un cours {when} "
                    f"(ligne {other.line})"
                )
                break
            if lesson.teacher and other.teacher == lesson.teacher:
                errors.append(
                    f"ligne {lesson.line} : {teacher_name(lesson.teacher)} a déjà un cours {when} "
                    f"(ligne {other.line}, {other.structure})"
                )
                break
        by_day.setdefault(lesson.weekday, []).append(lesson)
    return errors
