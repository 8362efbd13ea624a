"""The rentrée (school year change) and its report (issue #27 item 2): what the year change does
to each establishment once the new year's complete AAF files are imported.

`year_change` (the command) calls `change()`: in one transaction, the directory lock taken, each
active establishment's directory is read (`snapshot`), the earlier years' classes and groups
become read-only and the platform's school year moves on, each establishment's new-year files
are imported by the AAF import itself (`importer.import_aaf`: the new year's classes, the
members absent from the files marked gone), the directory is read again and the two readings
compared (`compare`): classes closed, pupils moved (their class of the year that ends → of the
new one), members leaving (accounts to purge, with the dates `purge_gone` will use), parents
left without a child, and the surprises an operator must look at before the real run.

A rehearsal applies all this for real on a copy of the database (the restore drill's scratch
cluster, the app's commands pointed at it by their configuration), or anywhere with --dry-run
(rolled back); the real run prints the same report. A refused file refuses the whole change:
nothing is applied, every defect listed per establishment.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from preau.core import delta, importer
from preau.core.feed import FeedError
from preau.core.models import (
    ClassGroup,
    ClassMembership,
    Establishment,
    Membership,
    OperationLog,
    ParentLink,
    Platform,
    Profile,
    lock_directory,
)
from preau.core.uai import normalize, uai_error

# A class whose namesake of the new year has fewer than this share of its pupils, a profile
# whose count changes by more than this share: surprises (docs/domain.md, "The rentrée").
EMPTIED_SHARE = 0.5
COUNT_CHANGE_SHARE = 0.2


class RentreeError(Exception):
    """The change refused before or while applying it (nothing applied): the message, and the
    problems: French lines, or (UAI, FeedError) for the defects of a refused file."""

    def __init__(self, message: str, errors: list | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


def new_year_files(aaf_dir: str) -> dict[str, list[str]]:
    """UAI → the complete AAF files (*.xml) of DIR/<UAI>/ (the drop directory's layout). A
    directory that names no active establishment, a delta file or a file outside an
    establishment's directory is refused: an operator's slip must not pass unseen."""
    root = Path(aaf_dir)
    if not root.is_dir():
        raise RentreeError(f"répertoire des fichiers AAF de la nouvelle année introuvable : {root}")
    problems, files = [], {}
    active = set(
        Establishment.objects.filter(status=Establishment.Status.ACTIVE).values_list(
            "uai", flat=True
        )
    )
    for path in sorted(root.iterdir()):
        if not path.is_dir():
            problems.append(
                f"{path.name} : rangez chaque fichier dans le répertoire de son établissement (DIR/<UAI>/)"
            )
            continue
        uai = normalize(path.name)
        if uai_error(uai) or uai not in active:
            problems.append(f"{path.name} : répertoire d'un établissement inconnu ou inactif")
            continue
        xml = sorted(str(p) for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".xml")
        deltas = [Path(p).name for p in xml if delta.DELTA_NAME.match(Path(p).name)]
        if deltas:
            problems.append(
                f"{path.name} : fichiers delta ({', '.join(deltas)}) : la rentrée importe les "
                "fichiers complets de la nouvelle année"
            )
        elif xml:
            files[uai] = xml
    if problems:
        raise RentreeError("fichiers de la nouvelle année refusés, rien n'a été modifié", problems)
    return files


@dataclass
class Snapshot:
    """One establishment's directory at one moment: present members (user id → profile), each
    pupil's class of `year` (user id → name), the legal guardians' and contacts' children."""

    members: dict[int, str] = field(default_factory=dict)
    classes: dict[int, str] = field(default_factory=dict)
    children: dict[int, set[int]] = field(default_factory=dict)
    # user id → {"username", "name"}: how the report names the members.
    people: dict[int, dict] = field(default_factory=dict)


def snapshot(est: Establishment, year: int) -> Snapshot:
    shot = Snapshot()
    for user_id, profile, username, last, first in (
        Membership.objects.of(est)
        .present()
        .values_list("user_id", "profile", "user__username", "user__last_name", "user__first_name")
    ):
        shot.members[user_id] = profile
        shot.people[user_id] = {"username": username, "name": f"{last} {first}".strip()}
    shot.classes = dict(
        ClassMembership.objects.of(est)
        .filter(class_group__kind=ClassGroup.Kind.CLASS, class_group__school_year=year)
        .values_list("user_id", "class_group__name")
    )
    for parent_id, child_id in ParentLink.objects.of(est).values_list("parent_id", "child_id"):
        shot.children.setdefault(parent_id, set()).add(child_id)
    return shot


def _percent(before: int, after: int) -> str:
    return f"{round(100 * (after - before) / before):+d} %" if before else "nouveau"


def compare(
    est: Establishment,
    before: Snapshot,
    after: Snapshot,
    years: tuple[int, int],
    closed: list[str],
    elsewhere: set[int],
) -> dict:
    """The establishment's part of the report (see app/README.md, `year_change`)."""
    previous, year = years
    today = timezone.localdate()
    disable_on = today + dt.timedelta(days=settings.RETENTION["disable_after_days"])
    delete_on = disable_on + dt.timedelta(days=settings.RETENTION["delete_after_days"])

    people = {**before.people, **after.people}

    def who(user_id: int) -> dict:
        return dict(people[user_id])

    def by_name(rows: list[dict]) -> list[dict]:
        return sorted(rows, key=lambda r: (r["name"], r["username"]))

    pupils_before = {u for u, p in before.members.items() if p == Profile.ELV}
    pupils_after = {u for u, p in after.members.items() if p == Profile.ELV}
    moved = by_name(
        [
            {**who(u), "from": before.classes.get(u), "to": after.classes.get(u)}
            for u in pupils_before & pupils_after
        ]
    )
    leaving = by_name(
        [
            {
                **who(u),
                "profile": profile,
                "class": before.classes.get(u),
                # purge_gone disables an account gone from every establishment, then deletes it.
                "kept": u in elsewhere,
                "disable_on": None if u in elsewhere else disable_on,
                "delete_on": None if u in elsewhere else delete_on,
            }
            for u, profile in before.members.items()
            if u not in after.members
        ]
    )
    orphans = by_name(
        [
            who(u)
            for u, p in after.members.items()
            if p == Profile.TUT and not after.children.get(u, set()) & pupils_after
        ]
    )
    counts = {
        profile: {
            "before": sum(p == profile for p in before.members.values()),
            "after": sum(p == profile for p in after.members.values()),
        }
        for profile in Profile.values
    }
    arrivals = Counter(p for u, p in after.members.items() if u not in before.members)
    surprises = []
    old_sizes, new_sizes = Counter(before.classes.values()), Counter(after.classes.values())
    for name, size in sorted(old_sizes.items()):
        if new_sizes[name] < size * EMPTIED_SHARE:
            surprises.append(
                f"classe {name} vidée de plus de moitié : {size} élève(s) en {previous}-"
                f"{previous + 1}, {new_sizes[name]} en {year}-{year + 1}"
            )
    for profile, n in counts.items():
        if abs(n["after"] - n["before"]) > COUNT_CHANGE_SHARE * n["before"] and (
            n["before"] or n["after"]
        ):
            surprises.append(
                f"{Profile(profile).label} : {n['before']} → {n['after']} "
                f"({_percent(n['before'], n['after'])})"
            )
    return {
        "uai": est.uai,
        "name": est.name,
        "classes_closed": closed,
        "counts": counts,
        "moves": dict(
            sorted(
                Counter(f"{m['from'] or '?'} → {m['to'] or 'sans classe'}" for m in moved).items()
            )
        ),
        "pupils_moved": moved,
        "arrivals": {p: arrivals[p] for p in Profile.values if arrivals[p]},
        "leaving": leaving,
        "parents_without_child": orphans,
        "surprises": surprises,
    }


def change(year: int | None, aaf_dir: str = "", dry_run: bool = False) -> dict:
    """The year change, with the new year's files of `aaf_dir` when given, and its report;
    rolled back with `dry_run`. RentreeError when refused (nothing applied)."""
    files = new_year_files(aaf_dir) if aaf_dir else {}
    with transaction.atomic():
        lock_directory()  # no import nor delta between the two readings
        platform = Platform.objects.select_for_update().get(pk=Platform.get().pk)
        previous = Platform.current_school_year()
        year = year or previous + 1
        if year <= previous:
            raise RentreeError(
                f"l'année {year} n'est pas postérieure à l'année courante {previous}"
            )
        establishments = list(Establishment.objects.filter(status=Establishment.Status.ACTIVE))
        before = {est.pk: snapshot(est, previous) for est in establishments} if aaf_dir else {}
        frozen = ClassGroup.objects.filter(school_year__lt=year, read_only=False)
        closed: dict[int, list[str]] = defaultdict(list)
        for est_id, name, old in frozen.values_list("establishment_id", "name", "school_year"):
            closed[est_id].append(name if old == previous else f"{name} ({old}-{old + 1})")
        frozen_count = frozen.update(read_only=True)
        platform.school_year = year
        platform.save(update_fields=["school_year"])
        imports: dict[int, dict] = {}
        errors: list[tuple[str, FeedError]] = []
        for est in establishments:
            if est.uai not in files:
                continue
            try:
                imports[est.pk] = importer.import_aaf(est, files[est.uai])
            except importer.ImportRejected as exc:
                errors.extend((est.uai, e) for e in exc.errors)
        if errors:
            raise RentreeError(
                f"rentrée refusée : {len(errors)} erreur(s) dans les fichiers de la nouvelle "
                "année, rien n'a été modifié",
                errors,
            )
        if aaf_dir:
            after = {est.pk: snapshot(est, year) for est in establishments}
            report = _report(
                establishments, before, after, (previous, year), closed, imports, files, aaf_dir
            )
        else:  # the files come later (import_aaf): only the classes closed are known
            report = {
                "aaf_dir": "",
                "establishments": [
                    {"uai": e.uai, "name": e.name, "classes_closed": sorted(closed.get(e.pk, []))}
                    for e in establishments
                ],
            }
        report.update(
            dry_run=dry_run,
            previous_year=previous,
            school_year=year,
            classes_made_read_only=frozen_count,
        )
        for est in establishments:
            OperationLog.objects.create(
                establishment=est,
                kind="year_change",
                summary={
                    "from": previous,
                    "to": year,
                    "files": [Path(f).name for f in files.get(est.uai, [])],
                },
            )
        if dry_run:
            transaction.set_rollback(True)
    return report


def _report(establishments, before, after, years, closed, imports, files, aaf_dir) -> dict:
    previous, year = years
    leaving: set[int] = set()
    for est in establishments:
        leaving |= before[est.pk].members.keys() - after[est.pk].members.keys()
    # Those still a member somewhere keep their account (purge_gone leaves them alone).
    still_here = set(
        Membership.objects.present().filter(user_id__in=leaving).values_list("user_id", flat=True)
    )
    # A pupil in a class of two establishments in the new year (present in two collèges' files).
    twice = set(
        ClassMembership.objects.filter(
            class_group__kind=ClassGroup.Kind.CLASS, class_group__school_year=year
        )
        .values("user_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("user_id", flat=True)
    )
    where: dict[int, list[str]] = defaultdict(list)
    for user_id, uai, name in (
        ClassMembership.objects.filter(
            user_id__in=twice,
            class_group__kind=ClassGroup.Kind.CLASS,
            class_group__school_year=year,
        )
        .values_list("user_id", "class_group__establishment__uai", "class_group__name")
        .order_by("class_group__establishment__uai")
    ):
        where[user_id].append(f"{uai} {name}")
    parts = []
    for est in establishments:
        part = compare(
            est,
            before[est.pk],
            after[est.pk],
            years,
            sorted(closed.get(est.pk, [])),
            still_here,
        )
        part["files"] = [Path(f).name for f in files.get(est.uai, [])]
        part["import"] = imports[est.pk]["totals"] if est.pk in imports else None
        if est.pk not in imports:
            # Nothing imported: its classes are not emptied nor its pupils moved, they wait
            # for its files; that alone is what to look at.
            part.update(pupils_moved=[], moves={})
            part["surprises"] = [
                f"aucun fichier de la nouvelle année : son annuaire reste celui de {previous}-"
                f"{previous + 1}, sans classe en {year}-{year + 1}"
            ]
        for user_id in sorted(twice & after[est.pk].classes.keys()):
            pupil = after[est.pk].people.get(user_id, {"name": "?", "username": user_id})
            part["surprises"].append(
                f"élève {pupil['name']} ({pupil['username']}) dans deux classes : "
                + ", ".join(where[user_id])
            )
        parts.append(part)
    return {
        "aaf_dir": aaf_dir,
        "retention": {
            "disable_after_days": settings.RETENTION["disable_after_days"],
            "delete_after_days": settings.RETENTION["delete_after_days"],
        },
        "establishments": parts,
        "surprises": sum(len(p["surprises"]) for p in parts),
    }


def render(r: dict) -> str:
    """The report in French, for the operator's terminal (the JSON has every name)."""
    dry = " (SIMULATION, rien n'a été modifié)" if r["dry_run"] else ""
    lines = [
        f"Rentrée{dry} : année {r['previous_year']}-{r['previous_year'] + 1} → "
        f"{r['school_year']}-{r['school_year'] + 1}, {r['classes_made_read_only']} classe(s)/"
        "groupe(s) passé(s) en lecture seule"
    ]
    if not r["aaf_dir"]:
        lines.extend(
            f"  {part['uai']} : {len(part['classes_closed'])} classe(s)/groupe(s) fermé(s)"
            for part in r["establishments"]
        )
        return "\n".join(lines)
    retention = r["retention"]
    lines.append(
        f"Comptes partants : désactivés {retention['disable_after_days']} j après leur départ, "
        f"supprimés {retention['delete_after_days']} j plus tard (purge_gone), sauf s'ils sont "
        f"membres d'un autre établissement. {r['surprises']} point(s) à vérifier."
    )
    for part in r["establishments"]:
        lines.append("")
        lines.append(f"{part['uai']} {part['name']}")
        if part["import"]:
            lines.append(f"  fichiers importés : {', '.join(part['files'])}")
        lines.append(
            f"  classes fermées ({len(part['classes_closed'])}) : "
            + (", ".join(part["classes_closed"]) or "aucune")
        )
        lines.append(
            "  effectifs : "
            + (
                ", ".join(
                    f"{Profile(p).label.lower()} {n['before']} → {n['after']}"
                    for p, n in part["counts"].items()
                    if n["before"] or n["after"]
                )
                or "aucun membre"
            )
        )
        lines.append(
            f"  élèves restant ({len(part['pupils_moved'])}) : "
            + (", ".join(f"{move} ×{n}" for move, n in part["moves"].items()) or "aucun")
        )
        if part["arrivals"]:
            lines.append(
                "  arrivées : "
                + ", ".join(f"{Profile(p).label.lower()} {n}" for p, n in part["arrivals"].items())
            )
        purged = [m for m in part["leaving"] if not m["kept"]]
        kept = len(part["leaving"]) - len(purged)
        by_profile = Counter(Profile(m["profile"]).label.lower() for m in purged)
        when = (
            f", désactivés le {purged[0]['disable_on']:%d/%m/%Y}, supprimés à partir du "
            f"{purged[0]['delete_on']:%d/%m/%Y}"
            if purged
            else ""
        )
        lines.append(
            f"  partants à purger ({len(purged)}) : "
            + (", ".join(f"{label} {n}" for label, n in sorted(by_profile.items())) or "aucun")
            + when
            + (f" ; {kept} autre(s) gardé(s), membres d'un autre établissement" if kept else "")
        )
        orphans = part["parents_without_child"]
        lines.append(
            f"  responsables sans enfant ({len(orphans)})"
            + (
                " : " + ", ".join(f"{o['name']} ({o['username']})" for o in orphans[:10])
                if orphans
                else ""
            )
            + (" …" if len(orphans) > 10 else "")
        )
        for surprise in part["surprises"]:
            lines.append(f"  À VÉRIFIER : {surprise}")
    return "\n".join(lines)
