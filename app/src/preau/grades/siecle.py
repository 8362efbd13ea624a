"""The pupils' export of SIECLE (« Base Élèves », `ElevesSansAdresses.xml`): each pupil's
identifiant Base Élèves (its ELEVE_ID), kept as Membership.be_id, which the LSU export names
pupils by (preau.grades.lsu) and no other feed of Préau carries (the AAF gives the INE only).

The file is one of the timetable import's formats ("bee", preau.timetable.imports: the same
page, job, report and all-or-nothing rule; the `import_siecle` command): `parse` reads it (pure,
no database), `link` matches and writes. A pupil of the file is matched by their INE alone
(ID_NATIONAL = User.ine, which the AAF feed fills), among the establishment's present pupils;
never by name or birth date, which two pupils may share. An INE missing, unknown or held by two
accounts, an ELEVE_ID that is not a positive integer, or one that would end on two pupils, is a
refused line: the file is refused whole (nothing is guessed, nothing half-applied). Pupils of
Préau absent from the file keep their id; the file's pupils who left (DATE_SORTIE passed) are
skipped.

What the names rest on (the ministry does not publish the format): the free readers of this
export found (a school-management tool's import, a platform's SIECLE parser and its tests, a
timetable tool's and an ENT's importers) agree on the root BEE_ELEVES, PARAMETRES/UAJ and
ANNEE_SCOLAIRE (element text), DONNEES/ELEVES/ELEVE with the attribute ELEVE_ID and the children
ID_NATIONAL (the INE), NOM_DE_FAMILLE, PRENOM, DATE_NAISS, DATE_SORTIE, ELENOET, and on the
encoding ISO-8859-15 declared by the file (read from its XML declaration). **Assumptions**, to
confirm on a real export and the LSU's documentation, all in TAG and ASSUMPTIONS below:
- the LSU's `id-be` is ELEVE_ID (not ELENOET, the establishment's own pupil number);
- ANNEE_SCOLAIRE is the school year's first calendar year (2026 for 2026-2027), as STS-Web's;
- DATE_SORTIE is JJ/MM/AAAA, and a pupil whose date has passed has left the establishment;
- a zipped export is a ZIP archive holding this one XML file.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.utils import timezone

from preau.core.models import Membership, Profile
from preau.timetable.sts import Unreadable, read_xml


class TAG:
    """Every element and attribute name read (module docstring: what they rest on)."""

    root = "BEE_ELEVES"
    parameters = "PARAMETRES"
    uai = "UAJ"
    year = "ANNEE_SCOLAIRE"
    pupil = "ELEVE"  # in DONNEES/ELEVES
    pupil_id = "ELEVE_ID"  # attribute: the identifiant Base Élèves
    ine = "ID_NATIONAL"
    last_name = "NOM_DE_FAMILLE"
    first_name = "PRENOM"
    left_on = "DATE_SORTIE"


ASSUMPTIONS = {
    "be_id": f"{TAG.pupil}/@{TAG.pupil_id}",
    "year": "first calendar year of the school year",
    "left_on_format": "%d/%m/%Y",
    "zip": "one XML file",
}
NUMBER = re.compile(r"[1-9][0-9]{0,19}")  # Membership.be_id: 20 characters at most
MAX_UNZIPPED = 64 * 1024 * 1024  # a real export of a lycée is a few MB; beyond, a zip bomb


@dataclass
class Pupil:
    line: int
    be_id: str
    ine: str
    name: str
    left_on: dt.date | None


@dataclass
class SiecleFile:
    uai: str = ""
    year: int | None = None
    pupils: list[Pupil] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def is_siecle(data: bytes) -> bool:
    """Whether an uploaded file is this export (its root element, near the file's start)."""
    return f"<{TAG.root}".encode() in data[:1000]


def unzipped(data: bytes) -> bytes:
    """The file itself, or the one XML file of a ZIP archive (Unreadable otherwise): SIECLE's
    exports are downloaded zipped; the timetable import unzips any file it is given."""
    if not data.startswith(b"PK\x03\x04"):
        return data
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [i for i in archive.infolist() if i.filename.lower().endswith(".xml")]
            if len(members) != 1:
                raise Unreadable(
                    f"l'archive ZIP contient {len(members)} fichier(s) XML au lieu d'un seul "
                    "(l'export des élèves de SIECLE) : rien n'a été importé"
                )
            with archive.open(members[0]) as inside:
                content = inside.read(MAX_UNZIPPED + 1)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError):
        raise Unreadable("archive ZIP illisible : rien n'a été importé") from None
    if len(content) > MAX_UNZIPPED:
        raise Unreadable("le fichier XML de l'archive est trop gros : rien n'a été importé")
    return content


def parse(data: bytes) -> SiecleFile:
    """What the export (unzipped) says; its refused lines in `errors`. Unreadable when it is
    not this export at all."""
    root, lines = read_xml(data)
    if root.tag != TAG.root:
        raise Unreadable(
            f"ce fichier n'est pas l'export des élèves de SIECLE (élément racine {root.tag}, "
            f"{TAG.root} attendu) : rien n'a été importé"
        )
    found = SiecleFile(uai=(root.findtext(f"{TAG.parameters}/{TAG.uai}") or "").strip().upper())
    year = (root.findtext(f"{TAG.parameters}/{TAG.year}") or "").strip()
    if year.isdigit():
        found.year = int(year)
    elif year:
        found.errors.append(f"année scolaire « {year} » illisible")
    for element in root.iterfind(f"DONNEES/ELEVES/{TAG.pupil}"):
        name = " ".join(
            (element.findtext(tag) or "").strip() for tag in (TAG.last_name, TAG.first_name)
        ).strip()
        left = (element.findtext(TAG.left_on) or "").strip()
        pupil = Pupil(
            line=lines.get(element, 0),
            # An attribute in every export found; read as a child element too, as one reader does.
            be_id=(element.get(TAG.pupil_id) or element.findtext(TAG.pupil_id) or "").strip(),
            ine=(element.findtext(TAG.ine) or "").strip().upper(),
            name=name or "sans nom",
            left_on=None,
        )
        if left:
            try:
                pupil.left_on = dt.datetime.strptime(left, ASSUMPTIONS["left_on_format"]).date()
            except ValueError:
                found.errors.append(f"{where(pupil)} : date de sortie « {left} » illisible")
        found.pupils.append(pupil)
    if not found.pupils:  # a file of another shape than the one assumed is not "nothing to do"
        found.errors.append(f"aucun élève (DONNEES/ELEVES/{TAG.pupil}) dans le fichier")
    return found


def where(pupil: Pupil) -> str:
    return f"ligne {pupil.line} ({pupil.name}, élève n° {pupil.be_id or '?'})"


def link(est, found: SiecleFile) -> tuple[Counter, list[str]]:
    """Each pupil of the file still in the establishment matched by INE and given the file's
    ELEVE_ID; (counts, refused lines). Writes only when no line is refused (the caller's
    transaction rolls back otherwise)."""
    today = timezone.localdate()
    counts: Counter = Counter()
    errors = list(found.errors)
    members = list(
        Membership.objects.of(est).present().filter(profile=Profile.ELV).select_related("user")
    )
    by_ine: dict[str, list[Membership]] = defaultdict(list)
    for member in members:
        if member.user.ine:
            by_ine[member.user.ine.strip().upper()].append(member)
    staying = []
    for pupil in found.pupils:
        if pupil.left_on is not None and pupil.left_on <= today:
            counts["pupils_left"] += 1
        else:
            staying.append(pupil)
    ines, ids = Counter(p.ine for p in staying), Counter(p.be_id for p in staying)
    given: dict[int, tuple[Membership, str]] = {}
    for pupil in staying:
        problem = _problem(pupil, ines, ids, by_ine.get(pupil.ine, []) if pupil.ine else [])
        if problem:
            errors.append(f"{where(pupil)} : {problem}")
        else:
            member = by_ine[pupil.ine][0]
            given[member.pk] = (member, pupil.be_id)
    errors += _kept_elsewhere(members, given)
    if errors:
        return Counter(), errors
    changed = []
    for member, be_id in given.values():
        if member.be_id == be_id:
            counts["pupils_unchanged"] += 1
            continue
        counts["be_ids_changed" if member.be_id else "be_ids_set"] += 1
        member.be_id = be_id
        changed.append(member)
    Membership.objects.bulk_update(changed, ["be_id"], batch_size=500)
    return counts, []


def _problem(pupil: Pupil, ines: Counter, ids: Counter, holders: list[Membership]) -> str:
    """Why this pupil's line is refused, the first reason only ("" when it is not): `ines` and
    `ids` count the file's INEs and ids (of pupils still there), `holders` are the
    establishment's pupils of this INE."""
    checks = (
        (
            not NUMBER.fullmatch(pupil.be_id),
            f"identifiant Base Élèves ({TAG.pupil_id}) absent ou invalide",
        ),
        (ids[pupil.be_id] > 1, "identifiant Base Élèves présent plusieurs fois dans le fichier"),
        (not pupil.ine, f"INE ({TAG.ine}) absent : l'élève ne peut être reconnu"),
        (ines[pupil.ine] > 1, f"INE {pupil.ine} présent plusieurs fois dans le fichier"),
        (
            not holders,
            f"INE {pupil.ine} inconnu parmi les élèves de l'établissement (l'annuaire ne l'a "
            "pas encore livré ?)",
        ),
        (
            len(holders) > 1,
            f"INE {pupil.ine} ambigu : {len(holders)} comptes d'élève de l'établissement le "
            "portent",
        ),
    )
    return next((message for wrong, message in checks if wrong), "")


def _kept_elsewhere(members: list[Membership], given: dict) -> list[str]:
    """A line per id the file gives that a pupil absent from it keeps: the LSU would name two
    pupils by it."""
    new = {be_id: member for member, be_id in given.values()}
    return [
        f"identifiant Base Élèves {m.be_id} donné à {new[m.be_id].user} mais déjà celui de "
        f"{m.user}, absent du fichier"
        for m in members
        if m.pk not in given and m.be_id in new
    ]
