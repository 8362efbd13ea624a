"""Realistic fake AAF feeds of any size (tests, demos, benchmarks). Deterministic per seed."""

from __future__ import annotations

import datetime as dt
import math
import random
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

SURNAMES = [
    "MARTIN",
    "BERNARD",
    "THOMAS",
    "PETIT",
    "ROBERT",
    "RICHARD",
    "DURAND",
    "DUBOIS",
    "MOREAU",
    "LAURENT",
    "SIMON",
    "MICHEL",
    "LEFEBVRE",
    "LEROY",
    "ROUX",
    "DAVID",
    "BERTRAND",
    "MOREL",
    "FOURNIER",
    "GIRARD",
    "BONNET",
    "DUPONT",
    "LAMBERT",
    "FONTAINE",
    "ROUSSEAU",
    "VINCENT",
    "MULLER",
    "LEFEVRE",
    "FAURE",
    "ANDRE",
    "MERCIER",
    "BLANC",
    "GUERIN",
    "BOYER",
    "GARNIER",
    "CHEVALIER",
    "FRANÇOIS",
    "LEGRAND",
    "GAUTHIER",
    "GARCIA",
    "PERRIN",
    "ROBIN",
    "CLÉMENT",
    "MORIN",
    "NICOLAS",
    "HENRY",
    "ROUSSEL",
    "MATHIEU",
    "GAUTIER",
    "MASSON",
    "MARCHAND",
    "DUVAL",
    "DENIS",
    "DUMONT",
    "MARIE",
    "LEMAIRE",
    "NOËL",
    "MEYER",
    "DUFOUR",
    "MEUNIER",
    "BRUN",
    "BLANCHARD",
    "GIRAUD",
    "JOLY",
    "RIVIÈRE",
    "LUCAS",
    "BRUNET",
    "GAILLARD",
    "BARBIER",
    "ARNAUD",
    "MARTINEZ",
    "GÉRARD",
    "ROCHE",
    "CAZALS",
    "SOULIÉ",
    "DELPECH",
    "MOULIS",
    "CASTEX",
    "BOUSQUET",
    "LAFON",
    "FABRE",
]
GIRLS = [
    "Léa",
    "Emma",
    "Chloé",
    "Manon",
    "Camille",
    "Inès",
    "Jade",
    "Louise",
    "Zoé",
    "Lina",
    "Alice",
    "Sarah",
    "Juliette",
    "Lola",
    "Anna",
    "Rose",
    "Ambre",
    "Léna",
    "Mila",
    "Romane",
    "Maëlys",
    "Éloïse",
    "Clémence",
    "Margaux",
    "Océane",
    "Nina",
    "Agathe",
    "Lucie",
]
BOYS = [
    "Lucas",
    "Hugo",
    "Louis",
    "Gabriel",
    "Arthur",
    "Jules",
    "Raphaël",
    "Adam",
    "Nathan",
    "Léo",
    "Tom",
    "Théo",
    "Noah",
    "Ethan",
    "Paul",
    "Sacha",
    "Maël",
    "Mathis",
    "Timéo",
    "Baptiste",
    "Clément",
    "Axel",
    "Enzo",
    "Rayan",
    "Antoine",
    "Victor",
    "Mathéo",
    "Noé",
]
ADULT_F = [
    "Sophie",
    "Isabelle",
    "Nathalie",
    "Sandrine",
    "Céline",
    "Stéphanie",
    "Véronique",
    "Audrey",
    "Émilie",
    "Laure",
    "Anne",
    "Valérie",
    "Christine",
    "Hélène",
    "Aurélie",
    "Delphine",
]
ADULT_M = [
    "Nicolas",
    "Stéphane",
    "Christophe",
    "Laurent",
    "Sébastien",
    "Julien",
    "Frédéric",
    "Olivier",
    "Thierry",
    "Éric",
    "Pascal",
    "Cédric",
    "Jérôme",
    "David",
    "Philippe",
    "Vincent",
]
SUBJECTS = [
    "MATHEMATIQUES",
    "FRANCAIS",
    "HISTOIRE-GEOGRAPHIE",
    "ANGLAIS",
    "ESPAGNOL",
    "SVT",
    "PHYSIQUE-CHIMIE",
    "TECHNOLOGIE",
    "EPS",
    "ARTS-PLASTIQUES",
    "EDUCATION-MUSICALE",
    "LATIN",
]
LEVELS = [
    ("6", "10010012110", "6EME"),
    ("5", "10110001110", "5EME"),
    ("4", "10210001110", "4EME"),
    ("3", "10310019110", "3EME"),
]


def _attr(name: str, *values) -> str:
    vals = "".join(f"<value>{escape(str(v))}</value>" for v in values if v not in (None, ""))
    return f"<attr name={quoteattr(name)}>{vals}</attr>"


def _record(category: str, ident: str, attrs: list[str]) -> str:
    op = (
        f"<operationalAttributes>{_attr('categoriePersonne', category)}</operationalAttributes>"
        if category != "EtabEducNat"
        else ""
    )
    return (
        f"<addRequest>{op}<identifier><id>{escape(ident)}</id></identifier>"
        f"<attributes>{''.join(attrs)}</attributes></addRequest>\n"
    )


def modify_record(category: str, ident: str, changes: list[tuple[str, str, list[str]]]) -> str:
    """A delta's modifyRequest: (attribute, operation replace|add|delete, values) each."""
    mods = "".join(
        f"<modification name={quoteattr(name)} operation={quoteattr(op)}>"
        + "".join(f"<value>{escape(v)}</value>" for v in values)
        + "</modification>"
        for name, op, values in changes
    )
    return (
        f"<modifyRequest><operationalAttributes>{_attr('categoriePersonne', category)}"
        f"</operationalAttributes><identifier><id>{escape(ident)}</id></identifier>"
        f"<modifications>{mods}</modifications></modifyRequest>\n"
    )


def delete_record(category: str, ident: str) -> str:
    return (
        f"<deleteRequest><operationalAttributes>{_attr('categoriePersonne', category)}"
        f"</operationalAttributes><identifier><id>{escape(ident)}</id></identifier>"
        "</deleteRequest>\n"
    )


def delta_path(out: str | Path, day: dt.date, category: str, seq: int = 0) -> Path:
    stamp = day.strftime("%Y%m%d")
    return Path(out) / f"ENT2D.{stamp}_Delta_{stamp}_{category}_{seq:04d}.xml"


def write_delta(out: str | Path, day: dt.date, records: dict[str, list[str]]) -> list[str]:
    """A delivery of delta files (one per category of `records`) in `out`; their paths."""
    Path(out).mkdir(parents=True, exist_ok=True)
    paths = []
    for category, lines in records.items():
        path = delta_path(out, day, category)
        _write(path, lines)
        paths.append(str(path))
    return paths


def generate_delta(
    out: str | Path, students: int, changes: int, uai: str = "0820021C", day: dt.date | None = None
) -> dict:
    """A delivery of `changes` changes to the feed generate(students, uai) made (the bench's
    aaf_delta): per ten changes, six pupils moved to another class, two parents' e-mail changed,
    one pupil added (with an existing pupil's guardians), one pupil removed."""
    day = day or dt.date.today()
    base = int(uai[1:7])
    struct = f"{base}0"
    classes = [c[0] for c in _classes(students)]
    pupils = list(range(1, students + 1))
    random.Random(f"delta-{uai}-{day}").shuffle(pupils)
    if len(pupils) < changes * 7 // 10 + 1:
        raise ValueError(f"{changes} changements demandent au moins {changes * 7 // 10 + 1} élèves")
    records: dict[str, list[str]] = {"Eleve": [], "PersRelEleve": []}
    moved = removed = parents = added = 0
    for n in range(changes):
        kind = n % 10
        if kind < 6:
            pupil, moved = f"1{base:06d}{pupils[moved]:05d}", moved + 1
            target = f"{struct}${classes[n % len(classes)]}"
            records["Eleve"].append(
                modify_record("Eleve", pupil, [("ENTEleveClasses", "replace", [target])])
            )
        elif kind < 8:
            parents += 1
            records["PersRelEleve"].append(
                modify_record(
                    "PersRelEleve",
                    f"3{base:06d}{parents:05d}",
                    [("mail", "replace", [f"responsable{n}@example.fr"])],
                )
            )
        elif kind == 8:
            added += 1
            key = f"1{base:06d}{students + added:05d}"
            records["Eleve"].append(
                _record(
                    "Eleve",
                    key,
                    [
                        _attr("ENTPersonJointure", key),
                        _attr("sn", "NOUVEAU"),
                        _attr("givenName", f"Élève {added}"),
                        _attr("ENTEleveClasses", f"{struct}${classes[n % len(classes)]}"),
                        _attr("ENTEleveAutoriteParentale", f"3{base:06d}00001"),
                    ],
                )
            )
        else:
            removed += 1
            records["Eleve"].append(delete_record("Eleve", f"1{base:06d}{pupils[-removed]:05d}"))
    return {"uai": uai, "files": write_delta(out, day, records), "changes": changes}


def _classes(students: int) -> list[tuple[str, str, str]]:
    per_level = max(1, math.ceil(students / len(LEVELS) / 26))
    return [
        (f"{lvl}{chr(65 + i)}", mef, label) for lvl, mef, label in LEVELS for i in range(per_level)
    ]


def _write(path: Path, records: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<batchRequest xmlns="urn:oasis:names:tc:DSML:2:0:core">\n'
        )
        fh.writelines(records)
        fh.write("</batchRequest>\n")


def generate(
    out: str | Path,
    students: int,
    uai: str = "0820021C",
    name: str = "Collège Jean Moulin",
    town: str = "Montauban",
    seed: int = 1,
    day: dt.date | None = None,
) -> dict:
    """Write the four complete files into `out`; return paths and counts."""
    rng = random.Random(f"{seed}-{uai}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    day = day or dt.date.today()
    stamp = day.strftime("%Y%m%d")
    base = int(uai[1:7])  # keeps join keys of different establishments apart
    struct = f"{base}0"  # ENTStructureJointure: differs from the UAI, as in real feeds

    def key(kind: int, n: int) -> str:
        return f"{kind}{base:06d}{n:05d}"

    classes = _classes(students)
    school_year_start = day.year if day.month >= 9 else day.year - 1

    eleves, parents = [], []
    parent_n = 0
    previous_parents: list[str] = []
    for n in range(students):
        class_name, mef, mef_label = classes[n % len(classes)]
        girl = rng.random() < 0.5
        surname = rng.choice(SURNAMES)
        age = (
            11
            + int(class_name[0] == "5")
            + 2 * int(class_name[0] == "4")
            + 3 * int(class_name[0] == "3")
        )
        birth = dt.date(school_year_start - age, 1, 1) + dt.timedelta(days=rng.randrange(365))
        if previous_parents and rng.random() < 0.08:
            guardians = previous_parents  # siblings share their parents
        else:
            guardians = []
            for sex in ("F", "M")[: 1 if rng.random() < 0.15 else 2]:
                parent_n += 1
                pkey = key(3, parent_n)
                guardians.append(pkey)
                parents.append(
                    _record(
                        "PersRelEleve",
                        pkey,
                        [
                            _attr("ENTPersonJointure", pkey),
                            _attr("sn", surname),
                            _attr("givenName", rng.choice(ADULT_F if sex == "F" else ADULT_M)),
                            _attr("personalTitle", "Mme" if sex == "F" else "M."),
                            _attr("ENTPersonStructRattach", uai),
                            _attr(
                                "homePhone",
                                f"05 63 {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)}",
                            ),
                            _attr(
                                "ENTPersonAdresse", f"{rng.randrange(1, 120)} rue de la République"
                            ),
                            _attr("ENTPersonCodePostal", "82000"),
                            _attr("ENTPersonVille", town.upper()),
                        ],
                    )
                )
            previous_parents = guardians
        skey = key(1, n + 1)
        groups = [f"{class_name[0]}-LATIN"] if rng.random() < 0.2 else []
        groups.append(f"{class_name[0]}-{'ESPAGNOL' if rng.random() < 0.7 else 'ALLEMAND'}")
        eleves.append(
            _record(
                "Eleve",
                skey,
                [
                    _attr("ENTPersonJointure", skey),
                    _attr("sn", surname),
                    _attr("givenName", rng.choice(GIRLS if girl else BOYS)),
                    _attr("personalTitle", "Mlle" if girl else "M."),
                    _attr("ENTPersonDateNaissance", birth.strftime("%d/%m/%Y")),
                    _attr("ENTPersonStructRattach", uai),
                    _attr("ENTEleveINE", f"{base:06d}{n:04d}{chr(65 + n % 26)}"),
                    _attr("ENTEleveClasses", f"{struct}${class_name}"),
                    _attr("ENTEleveGroupes", *[f"{struct}${g}" for g in groups]),
                    _attr("ENTEleveAutoriteParentale", *guardians),
                    _attr("ENTEleveMEF", mef),
                    _attr("ENTEleveLibelleMEF", mef_label),
                ],
            )
        )

    staff = []
    teachers = max(3, students // 12)
    class_names = [c[0] for c in classes]
    for t in range(teachers):
        subject = SUBJECTS[t % len(SUBJECTS)]
        taught = rng.sample(class_names, min(len(class_names), rng.randrange(3, 7)))
        tkey = key(5, t + 1)
        female = rng.random() < 0.6
        staff.append(
            _record(
                "PersEducNat",
                tkey,
                [
                    _attr("ENTPersonJointure", tkey),
                    _attr("sn", rng.choice(SURNAMES)),
                    _attr("givenName", rng.choice(ADULT_F if female else ADULT_M)),
                    _attr("personalTitle", "Mme" if female else "M."),
                    _attr("ENTPersonStructRattach", uai),
                    _attr("ENTPersonFonctions", f"{struct}$ENS$ENSEIGNEMENT$L0201$" + subject),
                    _attr("ENTAuxEnsClasses", *[f"{struct}${c}" for c in taught]),
                    _attr("ENTAuxEnsClassesMatieres", *[f"{struct}${c}${subject}" for c in taught]),
                    _attr("ENTAuxEnsMatiereEnseignEtab", f"{struct}${subject}"),
                    _attr("mail", f"prof{t + 1}@ac-toulouse.fr"),
                ],
            )
        )
    for n, (code, label) in enumerate(
        [
            ("DIR", "DIRECTION"),
            ("DIR", "DIRECTION"),
            ("EDU", "EDUCATION"),
            ("EDU", "EDUCATION"),
            ("SEC", "SECRETARIAT"),
            ("OUV", "OUVRIER"),
            ("OUV", "OUVRIER"),
        ],
        start=1,
    ):
        skey = key(6, n)
        staff.append(
            _record(
                "PersEducNat",
                skey,
                [
                    _attr("ENTPersonJointure", skey),
                    _attr("sn", rng.choice(SURNAMES)),
                    _attr("givenName", rng.choice(ADULT_F + ADULT_M)),
                    _attr("ENTPersonStructRattach", uai),
                    _attr("ENTPersonFonctions", f"{struct}${code}${label}"),
                ],
            )
        )

    etab = [
        _record(
            "EtabEducNat",
            struct,
            [
                _attr("ENTStructureJointure", struct),
                _attr("ENTStructureUAI", uai),
                _attr("ENTStructureNomCourant", name.upper()),
                _attr("ENTStructureTypeStruct", "CLG"),
                _attr("l", town.upper()),
                _attr("postalCode", "82000"),
            ],
        )
    ]
    files = {}
    for category, records in (
        ("EtabEducNat", etab),
        ("Eleve", eleves),
        ("PersRelEleve", parents),
        ("PersEducNat", staff),
    ):
        path = out / f"ENT2D.{stamp}_Complet_{stamp}_{category}_0000.xml"
        _write(path, records)
        files[category] = str(path)
    return {
        "uai": uai,
        "files": list(files.values()),
        "counts": {
            "students": len(eleves),
            "parents": len(parents),
            "staff": len(staff),
            "classes": len(classes),
        },
    }
