"""The AAF's daily delta files (docs/domain.md, "Daily deltas"): parsed on top of the database's
current state, applied per delivery in one transaction (a defect anywhere refuses the whole
delivery, nothing applied), from a drop directory the académie writes to, in the order of the
deliveries' dates; a delivery applied is never applied again; one that would remove too many
accounts waits for an operator's confirmation.

Drop directory ([aaf] drop_dir): one directory per establishment, named by its UAI; a delivery
is the files of one date (ENT2D.20261201_Delta_20261201_Eleve_0000.xml…); once handled its files
go to done/ or refused/ beside them; a delivery waiting for confirmation stays (and the later
ones wait behind it). Every delivery handled leaves an OperationLog (kind aaf_delta).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections import defaultdict
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from preau.core import metrics
from preau.core.aaf import AafParser
from preau.core.feed import Feed
from preau.core.importer import Applier, known_parent_keys
from preau.core.models import (
    ClassMembership,
    Establishment,
    Membership,
    OperationLog,
    ParentLink,
    Platform,
    Profile,
    TeachingAssignment,
    lock_directory,
)

KIND = "aaf_delta"
log = logging.getLogger("preau.aaf_delta")
# ENT2D.20261201_Delta_20261201_Eleve_0000.xml: the delivery is the part before the category,
# ordered by its date; the sequence number splits a large category into several files.
DELTA_NAME = re.compile(
    r"^(?P<delivery>.*_Delta_(?P<date>\d{8}))_(?P<category>[A-Za-z]+)_\d+\.xml$"
)
DONE, REFUSED = "done", "refused"
CATEGORY_OF = {Profile.ELV: "Eleve", Profile.TUT: "PersRelEleve"}  # other profiles: PersEducNat
# A staff profile → an ENTPersonFonctions code that gives it back (aaf.FUNCTION_PROFILES).
FUNCTION_OF = {Profile.DIR: "DIR", Profile.ENS: "ENS", Profile.EVS: "EDU", Profile.ETA: "ADM"}


class DeltaError(Exception):
    """A request the drop directory cannot serve (no directory configured, nothing to confirm)."""


# --- reading a delta -----------------------------------------------------------------------


def current_attrs(establishment: Establishment, join_keys) -> dict:
    """join key → (AAF category, AAF attributes) of the establishment's present members among
    `join_keys`, as a complete file would describe them: what a modifyRequest changes."""
    struct = establishment.join_key or establishment.uai
    year = Platform.current_school_year()
    members = (
        Membership.objects.of(establishment)
        .present()
        .filter(user__join_key__in=list(join_keys))
        .select_related("user")
    )
    by_id: dict[int, tuple[str, dict[str, list[str]]]] = {}
    for m in members:
        user = m.user
        attrs = {
            "ENTPersonJointure": [user.join_key],
            "sn": [user.last_name],
            "givenName": [user.first_name],
            "personalTitle": [user.title],
            "mail": [user.email],
            "ENTPersonDateNaissance": [user.birth_date.strftime("%d/%m/%Y")]
            if user.birth_date
            else [],
        }
        category = CATEGORY_OF.get(m.profile, "PersEducNat")
        if category == "Eleve":
            attrs["ENTEleveINE"] = [user.ine or ""]
        elif category == "PersEducNat":
            attrs["ENTPersonFonctions"] = [f"{struct}${FUNCTION_OF[m.profile]}"]
        by_id[user.pk] = (category, attrs)
    for user_id, kind, name in ClassMembership.objects.filter(
        class_group__establishment=establishment,
        class_group__school_year=year,
        user_id__in=by_id.keys(),
    ).values_list("user_id", "class_group__kind", "class_group__name"):
        attribute = "ENTEleveClasses" if kind == "class" else "ENTEleveGroupes"
        by_id[user_id][1].setdefault(attribute, []).append(f"{struct}${name}")
    for child_id, parent_key, legal in (
        ParentLink.objects.of(establishment)
        .filter(child_id__in=by_id.keys())
        .values_list("child_id", "parent__join_key", "legal_guardian")
    ):
        attribute = "ENTEleveAutoriteParentale" if legal else "ENTElevePersRelEleve1"
        by_id[child_id][1].setdefault(attribute, []).append(parent_key)
    for teacher_id, kind, name, subject in (
        TeachingAssignment.objects.of(establishment)
        .filter(class_group__school_year=year, teacher_id__in=by_id.keys())
        .values_list("teacher_id", "class_group__kind", "class_group__name", "subject__code")
    ):
        attrs = by_id[teacher_id][1]
        if kind == "class" and subject:
            attrs.setdefault("ENTAuxEnsClassesMatieres", []).append(f"{struct}${name}${subject}")
        else:
            attribute = "ENTAuxEnsClasses" if kind == "class" else "ENTAuxEnsGroupes"
            attrs.setdefault(attribute, []).append(f"{struct}${name}")
    return {attrs["ENTPersonJointure"][0]: (cat, attrs) for cat, attrs in by_id.values()}


def parse_delta(establishment: Establishment, paths: list[str]) -> Feed:
    """One delivery's files → a delta feed (feed.delta): its adds and changed persons complete,
    its deletions by join key; every defect in feed.errors."""
    parser = AafParser(establishment.uai, establishment.join_key, delta=True)
    feed = parser.parse(paths)
    if parser.modifications:
        parser.modify(current_attrs(establishment, {m[3] for m in parser.modifications}))
    if not feed.errors:
        feed.validate(known_parent_keys(establishment, feed))
    return feed


# --- applying one delivery -----------------------------------------------------------------


def _last_status(establishment: Establishment, delivery: str) -> str:
    log = (
        OperationLog.objects.filter(
            establishment=establishment, kind=KIND, summary__delivery=delivery
        )
        .order_by("-at", "-pk")
        .first()
    )
    return log.summary.get("status", "") if log else ""


def apply_delivery(
    establishment: Establishment,
    delivery: str,
    paths: list[str],
    *,
    confirmed: bool = False,
    dry_run: bool = False,
) -> dict:
    """Apply one delivery's files, or refuse it whole, or hold it for confirmation: the
    summary's status is applied, refused, pending or skipped (applied already)."""
    names = [Path(p).name for p in paths]
    with transaction.atomic():
        lock_directory()
        establishment = Establishment.objects.get(pk=establishment.pk)
        summary: dict = {"uai": establishment.uai, "delivery": delivery, "files": names}
        last = _last_status(establishment, delivery)
        if last == "applied":
            return {**summary, "status": "skipped", "dry_run": dry_run}
        feed = parse_delta(establishment, paths)
        removals = Applier.gone_members(establishment, feed).count()
        members = Membership.objects.of(establishment).present().count()
        summary.update(removals=removals, members=members, dry_run=dry_run, kind=KIND)
        limit = settings.PREAU_AAF_MAX_REMOVAL_PERCENT
        if feed.errors:
            summary.update(status="refused", errors=[e.as_dict() for e in feed.errors])
        elif removals > members * limit / 100 and not confirmed:
            summary.update(
                status="pending",
                errors=[],
                message=f"{removals} compte(s) retiré(s) sur {members} (plus de {limit} %) : "
                "en attente de la confirmation d'un opérateur "
                "(import_aaf_deltas --confirm <fichier>, ou import_aaf UAI <fichiers> --confirm)",
            )
        else:
            report = Applier(establishment, feed, Membership.Source.AAF).run()
            summary.update(report, status="applied", errors=[], confirmed=confirmed)
        if not (summary["status"] == "pending" and last == "pending"):
            OperationLog.objects.create(establishment=establishment, kind=KIND, summary=summary)
        if dry_run:
            transaction.set_rollback(True)
    result = {"applied": "ok", "refused": "rejected"}.get(summary["status"], summary["status"])
    metrics.IMPORTS.labels(kind=KIND, result="dry_run" if dry_run else result).inc()
    return summary


# --- the drop directory --------------------------------------------------------------------


def drop_dir() -> Path:
    if not settings.PREAU_AAF_DROP_DIR:
        raise DeltaError(
            "aucun répertoire de dépôt des deltas AAF : [aaf] drop_dir n'est pas configuré"
        )
    root = Path(settings.PREAU_AAF_DROP_DIR)
    if not root.is_dir():
        raise DeltaError(f"répertoire de dépôt des deltas AAF introuvable : {root}")
    return root


def deliveries(directory: Path) -> list[tuple[str, list[Path]]]:
    """The deliveries waiting in one establishment's directory, oldest first; a file whose
    name is no delta's comes alone, as delivery "" (refused)."""
    grouped: dict[tuple[str, str], list[Path]] = defaultdict(list)
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        match = DELTA_NAME.match(path.name)
        key = (match["date"], match["delivery"]) if match else ("", path.name)
        grouped[key].append(path)
    return [
        (key[1] if key[0] else "", files)
        for key, files in sorted(grouped.items(), key=lambda item: (item[0][0] == "", item[0]))
    ]


def _move(files: list[Path], to: str) -> None:
    for path in files:
        target = path.parent / to
        target.mkdir(exist_ok=True)
        os.replace(path, target / path.name)


def _refuse_name(establishment: Establishment, path: Path, dry_run: bool) -> dict:
    summary = {
        "uai": establishment.uai,
        "delivery": path.name,
        "files": [path.name],
        "status": "refused",
        "kind": KIND,
        "dry_run": dry_run,
        "errors": [
            {
                "file": path.name,
                "record": "-",
                "attribute": "-",
                "message": "nom de fichier inattendu : un delta AAF se nomme "
                "…_Delta_AAAAMMJJ_<catégorie>_<numéro>.xml",
            }
        ],
    }
    if not dry_run:
        OperationLog.objects.create(establishment=establishment, kind=KIND, summary=summary)
        metrics.IMPORTS.labels(kind=KIND, result="rejected").inc()
    return summary


def run(confirm: str = "", dry_run: bool = False) -> dict:
    """Handle what arrived in the drop directory, establishment by establishment, oldest
    delivery first; `confirm` (a file of a delivery waiting for confirmation) lets that one
    through the guard. Moves each file to done/ or refused/ (not with dry_run)."""
    root = drop_dir()
    confirmed = _confirmed(root, confirm) if confirm else None
    results, problems = [], []
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        establishment = Establishment.objects.filter(uai=directory.name).first()
        if establishment is None or not establishment.is_active:
            problems.append(f"{directory.name} : répertoire d'un établissement inconnu ou inactif")
            log.warning("AAF delta drop directory %s: unknown or inactive establishment", directory)
            continue
        for delivery, files in deliveries(directory):
            if not delivery:
                results.append(_refuse_name(establishment, files[0], dry_run))
                if not dry_run:
                    _move(files, REFUSED)
                continue
            result = apply_delivery(
                establishment,
                delivery,
                [str(f) for f in files],
                confirmed=confirmed == (establishment.uai, delivery),
                dry_run=dry_run,
            )
            results.append(result)
            if result["status"] == "pending":
                break  # the later deliveries wait behind it: order matters
            if not dry_run:
                _move(files, REFUSED if result["status"] == "refused" else DONE)
    if confirmed and not any(
        (r["uai"], r["delivery"]) == confirmed and r["status"] == "applied" for r in results
    ):
        problems.append(f"la livraison {confirmed[1]} n'a pas été appliquée")
    return {"deliveries": results, "problems": problems, "dry_run": dry_run}


def _confirmed(root: Path, confirm: str) -> tuple[str, str]:
    """(UAI, delivery) of `confirm`, a file of a delivery waiting for confirmation in the drop
    directory: its path, or its name when one establishment only has that delivery waiting
    (the names are the académie's, the same for every establishment of a date)."""
    path = Path(confirm)
    match = DELTA_NAME.match(path.name)
    if match is None:
        raise DeltaError(f"{confirm} : pas un fichier delta AAF (…_Delta_AAAAMMJJ_…)")
    delivery = match["delivery"]
    if path.parent != Path("."):
        candidates = [path] if path.resolve().parent.parent == root.resolve() else []
    else:
        candidates = list(root.glob(f"*/{path.name}"))
    waiting = [
        f.parent.name
        for f in candidates
        if f.is_file()
        and (est := Establishment.objects.filter(uai=f.parent.name).first()) is not None
        and _last_status(est, delivery) == "pending"
    ]
    if not waiting:
        raise DeltaError(
            f"{path.name} : la livraison {delivery} n'attend pas de confirmation dans {root} "
            "(déjà appliquée, refusée, pas encore examinée, ou fichier hors du répertoire)"
        )
    if len(waiting) > 1:
        raise DeltaError(
            f"{path.name} : la livraison {delivery} attend dans {len(waiting)} établissements "
            f"({', '.join(waiting)}) : donner le chemin du fichier"
        )
    return waiting[0], delivery


# --- for monitoring ------------------------------------------------------------------------


def state(now: dt.datetime | None = None) -> dict:
    """What monitoring watches (core/metrics.py): the last delivery applied (None before the
    first), the deliveries refused in the last 24 hours, the ones waiting for confirmation."""
    now = now or timezone.now()
    logs = OperationLog.objects.filter(kind=KIND)
    last = logs.filter(summary__status="applied").aggregate(at=Max("at"))["at"]
    refused = logs.filter(summary__status="refused", at__gte=now - dt.timedelta(days=1)).count()
    # A delivery is held at most until the next ones pile up behind it: the last 30 days'.
    recent = logs.filter(at__gte=now - dt.timedelta(days=30))
    pending = sum(
        not recent.filter(
            establishment_id=log.establishment_id,
            summary__delivery=log.summary["delivery"],
            at__gt=log.at,
        )
        .exclude(summary__status="pending")
        .exists()
        for log in recent.filter(summary__status="pending")
    )
    return {"last_applied": last, "refused_24h": refused, "pending": pending}
