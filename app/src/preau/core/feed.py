"""A directory feed, normalised: what the AAF and CSV parsers produce and the importer applies.

Parsers report format defects; `validate` checks what both formats share (duplicates, unknown
parents). Every defect names the file, the record id and the attribute.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

# Which profiles a feed category covers: users absent from a complete file of a category are
# marked gone only for the profiles that category describes.
CATEGORY_PROFILES = {
    "Eleve": {"ELV"},
    "PersRelEleve": {"TUT"},
    "PersEducNat": {"ENS", "DIR", "EVS", "ETA"},
}


@dataclass
class FeedError:
    file: str
    record: str
    attribute: str
    message: str

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "record": self.record,
            "attribute": self.attribute,
            "message": self.message,
        }

    def __str__(self) -> str:
        return f"{self.file} · enregistrement {self.record} · {self.attribute} : {self.message}"


@dataclass
class Person:
    file: str
    record: str
    profile: str
    join_key: str
    last_name: str = ""
    first_name: str = ""
    title: str = ""
    birth_date: dt.date | None = None
    email: str = ""
    ine: str = ""
    classes: list[str] = field(default_factory=list)  # students: exactly one
    groups: list[str] = field(default_factory=list)
    guardians: list[str] = field(default_factory=list)  # join keys, legal guardians
    contacts: list[str] = field(default_factory=list)  # join keys, other contacts
    teaches: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, name, subject|"")
    parent_attribute: str = "ENTEleveAutoriteParentale"
    class_attribute: str = "ENTEleveClasses"


@dataclass
class Feed:
    files: list[str] = field(default_factory=list)
    categories: set[str] = field(default_factory=set)
    persons: list[Person] = field(default_factory=list)
    structure_join_key: str = ""
    errors: list[FeedError] = field(default_factory=list)
    # Persons refused or given fewer rights than the feed asked for: one French line each,
    # shown in the import report (the import itself goes on).
    notices: list[str] = field(default_factory=list)
    # A delta (AAF modifyRequest/deleteRequest files, core/delta.py): `persons` are the added or
    # changed persons only, `deleted` the join keys of deleteRequest records; nobody else is
    # touched (a complete feed marks its absent members gone instead).
    delta: bool = False
    deleted: dict[str, tuple[str, str]] = field(default_factory=dict)  # join key → (file, record)

    def error(self, file: str, record: str, attribute: str, message: str) -> None:
        self.errors.append(FeedError(file, record, attribute, message))

    def notice(self, file: str, record: str, who: str, message: str) -> None:
        self.notices.append(f"{file} · enregistrement {record} ({who}) : {message}")

    @property
    def covered_profiles(self) -> set[str]:
        return set().union(*(CATEGORY_PROFILES.get(c, set()) for c in self.categories))

    def validate(self, known_parent_keys: set[str]) -> None:
        """Checks across records; `known_parent_keys` are parents already in the database."""
        seen: dict[str, Person] = {}
        for person in self.persons:
            other = seen.get(person.join_key)
            if other is not None:
                self.error(
                    person.file,
                    person.record,
                    "ENTPersonJointure",
                    f"identifiant {person.join_key} en double (déjà dans {other.file}, "
                    f"enregistrement {other.record})",
                )
            else:
                seen[person.join_key] = person
            if person.join_key in self.deleted:
                self.error(
                    person.file,
                    person.record,
                    "ENTPersonJointure",
                    f"identifiant {person.join_key} à la fois modifié et supprimé dans la même "
                    "livraison",
                )
        parents = {p.join_key for p in self.persons if p.profile == "TUT"} | known_parent_keys
        parents -= self.deleted.keys()
        for person in self.persons:
            if len(set(person.classes)) > 1:
                self.error(
                    person.file,
                    person.record,
                    person.class_attribute,
                    f"l'élève a plusieurs classes dans l'établissement : "
                    f"{', '.join(sorted(set(person.classes)))}",
                )
            for key in person.guardians + person.contacts:
                if key not in parents:
                    self.error(
                        person.file,
                        person.record,
                        person.parent_attribute,
                        f"responsable {key} inconnu (absent de PersRelEleve)",
                    )


def parse_date(value: str) -> dt.date | None:
    """DD/MM/YYYY, a real calendar date, not in the future and not before 1900."""
    try:
        day = dt.datetime.strptime(value.strip(), "%d/%m/%Y").date()
    except ValueError:
        return None
    if day.year < 1900 or day > dt.date.today():
        return None
    return day
