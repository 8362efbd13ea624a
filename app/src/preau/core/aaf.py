"""AAF XML feed parser: complete files (EtabEducNat, Eleve, PersRelEleve, PersEducNat) and, with
delta=True, the daily delta files (addRequest, modifyRequest, deleteRequest: core/delta.py)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # only for the ParseError type; parsing uses defusedxml
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import parse as safe_parse

from preau.core.feed import Feed, Person, parse_date
from preau.core.uai import uai_error

CATEGORIES = ("EtabEducNat", "Eleve", "PersRelEleve", "PersEducNat", "MatiereEducNat", "MefEducNat")
_NAME_CATEGORY = re.compile(r"_(" + "|".join(CATEGORIES) + r")_")
# modifyRequest operations on one attribute (DSML v2 <modification name=… operation=…>).
OPERATIONS = ("replace", "add", "delete")
# A delta's person category → the profiles it may change (a modifyRequest of the Eleve file on a
# staff member is a defect).
PERSON_CATEGORIES = ("Eleve", "PersRelEleve", "PersEducNat")

# ENTPersonFonctions codes (the AAF "filière" of a post) → profile. The vie scolaire profile
# (EVS) follows every pupil of the establishment (absences, grades, documents), so only the
# functions that do vie scolaire work get it.
FUNCTION_PROFILES = {
    # Teaching; documentalists (DOC) work with classes as teachers do.
    "ENS": "ENS",
    "DOC": "ENS",
    "DIR": "DIR",
    # Vie scolaire: CPE (EDU, CPE), surveillance (SUR), assistants d'éducation (AED).
    "EDU": "EVS",
    "CPE": "EVS",
    "SUR": "EVS",
    "AED": "EVS",
    # Administrative staff (secrétariat SEC, administration ADM, administration et finances ADF):
    # their work is not the pupils' school life, so they get the staff profile (ETA), as the
    # technical (OUV, ATOS), laboratory (LAB), social and medical (ASE, MDS) and guidance (ORI)
    # staff do.
    "SEC": "ETA",
    "ADM": "ETA",
    "ADF": "ETA",
    "OUV": "ETA",
    "ATOS": "ETA",
    "LAB": "ETA",
    "ASE": "ETA",
    "MDS": "ETA",
    "ORI": "ETA",
}
# Unknown codes fail closed (_record_PersEducNat): a person with no known function here is not
# imported and the import report lists them.


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _attrs(element) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for attr in element.iter():
        if _local(attr.tag) == "attr":
            name = attr.get("name", "")
            values.setdefault(name, []).extend(
                (v.text or "").strip() for v in attr if _local(v.tag) == "value"
            )
    return values


def _modifications(record) -> list[tuple[str, str, list[str]]]:
    """The (attribute, operation, values) of a modifyRequest, in the file's order."""
    return [
        (
            el.get("name", ""),
            el.get("operation", ""),
            [(v.text or "").strip() for v in el if _local(v.tag) == "value"],
        )
        for el in record.iter()
        if _local(el.tag) == "modification"
    ]


class AafParser:
    def __init__(self, uai: str, structure_join_key: str = "", delta: bool = False) -> None:
        self.uai = uai
        self.structures = {uai} | ({structure_join_key} if structure_join_key else set())
        self.feed = Feed(delta=delta)
        # Delta: modifyRequest records wait here until `modify` has the person's current
        # attributes: (file, record id, category, join key, modifications).
        self.modifications: list[tuple[str, str, str, str, list]] = []

    def parse(self, paths: list[str]) -> Feed:
        # Establishment files first: they give the structure join key used in class values.
        etab_files = []
        for path in sorted(paths, key=lambda p: "EtabEducNat" not in Path(p).name):
            seen = set(self.feed.categories)
            self._parse_file(Path(path))
            if "EtabEducNat" in self.feed.categories - seen:
                etab_files.append(Path(path).name)
        # A delta's EtabEducNat file lists the structures that changed, not necessarily ours.
        if (
            etab_files
            and not self.feed.delta
            and not self.feed.structure_join_key
            and not self.feed.errors
        ):
            self.feed.error(
                etab_files[0],
                "-",
                "ENTStructureUAI",
                f"l'établissement {self.uai} n'est pas dans ce fichier",
            )
        return self.feed

    # -- helpers ---------------------------------------------------------------------------

    def _ours(self, values: list[str]) -> list[str]:
        """`STRUCT$NAME` values of this establishment → NAME."""
        names = []
        for value in values:
            struct, sep, name = value.partition("$")
            if not sep:
                names.append(value)
            elif struct in self.structures:
                names.append(name)
        return [n for n in names if n]

    def _first(self, attrs, name) -> str:
        values = attrs.get(name) or [""]
        return values[0]

    # -- files -----------------------------------------------------------------------------

    def _parse_file(self, path: Path) -> None:
        name = path.name
        self.feed.files.append(name)
        try:
            root = safe_parse(str(path)).getroot()
        except FileNotFoundError:
            self.feed.error(name, "-", "-", "fichier introuvable")
            return
        except ET.ParseError as exc:
            self.feed.error(name, "-", "-", f"XML invalide ({exc})")
            return
        except DefusedXmlException as exc:
            self.feed.error(name, "-", "-", f"XML refusé ({exc.__class__.__name__})")
            return
        records = [
            el
            for el in root.iter()
            if _local(el.tag) in ("addRequest", "modifyRequest", "deleteRequest")
        ]
        match = _NAME_CATEGORY.search(name)
        category = match.group(1) if match else None
        for index, record in enumerate(records, start=1):
            attrs = _attrs(record)
            ident = next(
                ((el.text or "").strip() for el in record.iter() if _local(el.tag) == "id"), ""
            )
            record_id = ident or f"#{index}"
            kind = _local(record.tag)
            if self.feed.delta and "_Delta_" not in name:
                self.feed.error(
                    name,
                    "-",
                    "-",
                    "fichier complet dans une livraison delta : à importer avec import_aaf",
                )
                return
            if kind != "addRequest" and not self.feed.delta:
                self.feed.error(
                    name,
                    record_id,
                    _local(record.tag),
                    "fichier delta non pris en charge : seuls les fichiers complets "
                    "(addRequest) sont importés",
                )
                continue
            record_category = category or self._first(attrs, "categoriePersonne") or None
            if record_category is None and "ENTStructureUAI" in attrs:
                record_category = "EtabEducNat"
            if record_category not in CATEGORIES:
                self.feed.error(
                    name,
                    record_id,
                    "categoriePersonne",
                    f"catégorie inconnue « {record_category or ''} »",
                )
                continue
            self.feed.categories.add(record_category)
            if kind != "addRequest":
                self._delta_record(name, record_id, kind, record_category, ident, record)
                continue
            handler = getattr(self, f"_record_{record_category}", None)
            if handler:
                handler(name, record_id, attrs)

    # -- delta records ---------------------------------------------------------------------

    def _delta_record(self, file, record_id, kind, category, join_key, record) -> None:
        """A modifyRequest or deleteRequest: its <identifier><id> is the person's join key
        (ENTPersonJointure). Structures, subjects and MEFs are not changed by a delta."""
        if category not in PERSON_CATEGORIES:
            return
        if not join_key:
            self.feed.error(file, record_id, "identifier", "clé de jointure manquante")
        elif kind == "deleteRequest":
            self.feed.deleted[join_key] = (file, record_id)
        else:
            modifications = _modifications(record)
            for attribute, operation, _ in modifications:
                if operation not in OPERATIONS:
                    self.feed.error(
                        file,
                        record_id,
                        attribute or "modification",
                        f"opération inconnue « {operation} » (attendu replace, add ou delete)",
                    )
            self.modifications.append((file, record_id, category, join_key, modifications))

    def modify(self, current: dict[str, tuple[str, dict[str, list[str]]]]) -> None:
        """Apply the waiting modifyRequest records on top of each person's current attributes
        (`current`: join key → (category, AAF attributes), core/delta.py reads them from the
        database), then read the result as an addRequest of that person: the same checks."""
        for file, record_id, category, join_key, modifications in self.modifications:
            if join_key not in current:
                self.feed.error(
                    file,
                    record_id,
                    "identifier",
                    f"personne {join_key} inconnue dans l'établissement : modification impossible",
                )
                continue
            known_category, attrs = current[join_key]
            if known_category != category:
                self.feed.error(
                    file,
                    record_id,
                    "categoriePersonne",
                    f"la personne {join_key} est de catégorie {known_category}, pas {category}",
                )
                continue
            attrs = {name: list(values) for name, values in attrs.items()}
            for attribute, operation, values in modifications:
                old = attrs.get(attribute, [])
                if operation == "replace":
                    attrs[attribute] = values
                elif operation == "add":
                    attrs[attribute] = old + [v for v in values if v not in old]
                elif operation == "delete":
                    attrs[attribute] = [v for v in old if values and v not in values]
            getattr(self, f"_record_{category}")(file, record_id, attrs)

    # -- record kinds ----------------------------------------------------------------------

    def _record_EtabEducNat(self, file, record_id, attrs):  # noqa: N802
        uai = self._first(attrs, "ENTStructureUAI")
        message = uai_error(uai)
        if message:
            self.feed.error(file, record_id, "ENTStructureUAI", message)
            return
        if uai != self.uai:
            return  # a multi-establishment file: other structures are not ours
        join_key = self._first(attrs, "ENTStructureJointure")
        if not join_key:
            self.feed.error(file, record_id, "ENTStructureJointure", "clé de jointure manquante")
            return
        self.feed.structure_join_key = join_key
        self.structures.add(join_key)

    def _person(self, file, record_id, attrs, profile) -> Person | None:
        join_key = self._first(attrs, "ENTPersonJointure")
        ok = True
        if not join_key:
            self.feed.error(file, record_id, "ENTPersonJointure", "clé de jointure manquante")
            ok = False
        for struct in attrs.get("ENTPersonStructRattach", []):
            message = uai_error(struct) if len(struct) == 8 and struct[:7].isdigit() else None
            if message:
                self.feed.error(file, record_id, "ENTPersonStructRattach", message)
                ok = False
        birth = None
        raw_birth = self._first(attrs, "ENTPersonDateNaissance")
        if raw_birth:
            birth = parse_date(raw_birth)
            if birth is None:
                self.feed.error(
                    file,
                    record_id,
                    "ENTPersonDateNaissance",
                    f"date impossible « {raw_birth} » (attendu JJ/MM/AAAA)",
                )
                ok = False
        if not self._first(attrs, "sn"):
            self.feed.error(file, record_id, "sn", "nom de famille manquant")
            ok = False
        if not ok:
            return None
        return Person(
            file=file,
            record=record_id,
            profile=profile,
            join_key=join_key,
            last_name=self._first(attrs, "sn"),
            first_name=self._first(attrs, "givenName"),
            title=self._first(attrs, "personalTitle"),
            birth_date=birth,
            email=self._first(attrs, "mail"),
        )

    def _record_Eleve(self, file, record_id, attrs):  # noqa: N802
        person = self._person(file, record_id, attrs, "ELV")
        if person is None:
            return
        person.ine = self._first(attrs, "ENTEleveINE")
        person.classes = self._ours(attrs.get("ENTEleveClasses", []))
        person.groups = self._ours(attrs.get("ENTEleveGroupes", []))
        person.guardians = [v for v in attrs.get("ENTEleveAutoriteParentale", []) if v]
        person.contacts = [
            v
            for n in ("ENTElevePersRelEleve1", "ENTElevePersRelEleve2")
            for v in attrs.get(n, [])
            if v and v not in person.guardians
        ]
        self.feed.persons.append(person)

    def _record_PersRelEleve(self, file, record_id, attrs):  # noqa: N802
        person = self._person(file, record_id, attrs, "TUT")
        if person is not None:
            self.feed.persons.append(person)

    def _record_PersEducNat(self, file, record_id, attrs):  # noqa: N802
        codes = []
        for value in attrs.get("ENTPersonFonctions", []):
            parts = value.split("$")
            if len(parts) >= 2 and parts[0] in self.structures:
                codes.append(parts[1])
        profiles = [FUNCTION_PROFILES[c] for c in codes if c in FUNCTION_PROFILES]
        if not self._known_function(file, record_id, attrs, codes, profiles):
            return
        teaches = [("class", n, "") for n in self._ours(attrs.get("ENTAuxEnsClasses", []))]
        teaches += [("group", n, "") for n in self._ours(attrs.get("ENTAuxEnsGroupes", []))]
        # ENTAuxEnsClassesMatieres: STRUCT$CLASS$SUBJECT, more precise than the plain lists.
        for value in attrs.get("ENTAuxEnsClassesMatieres", []):
            parts = value.split("$")
            if len(parts) == 3 and parts[0] in self.structures and parts[1] and parts[2]:
                teaches = [t for t in teaches if t[:2] != ("class", parts[1])]
                teaches.append(("class", parts[1], parts[2]))
        profile = next(p for p in ("DIR", "ENS", "EVS", "ETA") if p in profiles)
        person = self._person(file, record_id, attrs, profile)
        if person is not None:
            person.teaches = list(dict.fromkeys(teaches))
            self.feed.persons.append(person)

    def _known_function(self, file, record_id, attrs, codes, profiles) -> bool:
        """Whether the person has a known function in this establishment. A person with none
        (no code, or only unknown ones) is not imported rather than imported with some profile:
        every profile grants rights (ETA writes to everyone), an account must get none until
        its function is known; a member already imported is then absent from this complete
        feed, hence gone, which grants nothing. Unknown codes beside a known one are named."""
        unknown = sorted({c for c in codes if c not in FUNCTION_PROFILES})
        who = (
            " ".join(filter(None, (self._first(attrs, "givenName"), self._first(attrs, "sn"))))
            or "?"
        )
        listed = ", ".join(f"« {c} »" for c in unknown)
        if not profiles:
            reason = (
                f"fonction inconnue {listed}" if unknown else "aucune fonction dans l'établissement"
            )
            self.feed.notice(
                file,
                record_id,
                who,
                f"{reason} : personne non importée, aucun droit dans "
                "l'établissement tant que sa fonction n'est pas connue",
            )
            return False
        if unknown:
            self.feed.notice(file, record_id, who, f"fonction inconnue {listed} ignorée")
        return True


def parse_aaf(uai: str, structure_join_key: str, paths: list[str]) -> Feed:
    """Complete files only (a delta's records are refused: core/delta.py reads those)."""
    return AafParser(uai, structure_join_key).parse(paths)
