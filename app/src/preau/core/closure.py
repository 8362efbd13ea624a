"""An establishment closed for good: closed, exported for its archives, then purged.

1. `close`: status `closed` (its members reach nothing, imports and operations refuse it:
   core.tenancy, management.base.get_establishment), and its export deferred as a background
   job (`export_establishment`, queue "long"), in one transaction.
2. `export` (the job): a bundle `<archive_root>/<UAI>-<time>.tar.gz` holding a README, a
   manifest (what each file is, its rows and its SHA-256) and the CSV files (UTF-8, `;`, French
   headers) of accounts, classes, grades, absences, timetable, logbook and documents with
   their files, and each pupil's report card (bulletin) of each period as a PDF; the bundle's
   own SHA-256 beside it (`.sha256`) and in the establishment's
   operation log (kind `archive_export`).
3. `purge`: only once that bundle is found whole again (its SHA-256 and every file's), and
   not before `closed_purge_after_days` after the closing (at most 3 months: docs/domain.md,
   "Closing an establishment"). It deletes every row of the establishment and the accounts
   that belonged to it alone, in one transaction; the establishment's own row stays (its UAI,
   name and dates: no personal data) with the purge's record.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import ForeignObjectRel
from django.utils import timezone
from django.utils.text import slugify

from preau.core.models import (
    ClassGroup,
    ClassMembership,
    Establishment,
    Membership,
    OperationLog,
    ParentLink,
    User,
    lock_directory,
)
from preau.ent.files import chunks

EXPORT_TASK = "export_establishment"
FORMAT_VERSION = 1
# What the bundle leaves out, and why (written in its README and manifest).
EXCLUDED = {
    "messagerie": "correspondance privée entre personnes : ni archivée ni exportée, supprimée "
    "avec l'établissement (arrêté du 30 novembre 2006, art. 6)",
    "mots de passe, codes d'activation, journaux de connexion": "données d'authentification "
    "sans valeur d'archive",
    "notifications": "copies des événements déjà archivés (notes, absences)",
}


class ClosureError(Exception):
    """A refusal: nothing was changed; the message says what is wrong and what to do."""


def _day(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%d/%m/%Y")


def close(est: Establishment) -> int:
    """Close `est` and defer its export; the job's id. The caller holds the transaction."""
    if est.status == Establishment.Status.CLOSED:
        raise ClosureError(
            f"établissement {est.uai} déjà fermé le {_day(est.archived_at or timezone.now())} ; "
            f"son état : `establishment closure {est.uai}`"
        )
    if not est.is_active:
        raise ClosureError(f"établissement {est.uai} : statut {est.status}, fermeture refusée")
    est.status = Establishment.Status.CLOSED
    est.archived_at = timezone.now()
    est.save(update_fields=["status", "archived_at"])
    return request_export(est, kind="close")


def request_export(est: Establishment, kind: str = "export_requested") -> int:
    """Defer the export of closed `est` (again: a failed or lost bundle); the job's id."""
    from preau.jobs.queue import enqueue

    if est.status != Establishment.Status.CLOSED:
        raise ClosureError(
            f"établissement {est.uai} non fermé (statut {est.status}) : "
            f"`establishment close {est.uai}` d'abord"
        )
    job_id = enqueue(EXPORT_TASK, establishment_uai=est.uai)
    OperationLog.objects.create(establishment=est, kind=kind, summary={"job_id": job_id})
    return job_id


def state(est: Establishment) -> dict:
    """Where the closure stands: the last export job's status, the last bundle, and from which
    day the purge is possible."""
    from preau.jobs.queue import job_status

    logs = OperationLog.objects.filter(establishment=est)
    request = logs.filter(kind__in=("close", "export_requested")).order_by("-at", "-pk").first()
    job = job_status(request.summary["job_id"]) if request is not None else None
    return {
        "uai": est.uai,
        "name": est.name,
        "status": est.status,
        "closed_at": est.archived_at if est.status == Establishment.Status.CLOSED else None,
        "export_job": job,
        "bundle": last_bundle(est),
        "purge_possible_on": purge_possible_on(est),
        "purged": logs.filter(kind="purge").values_list("summary", flat=True).first(),
    }


def last_bundle(est: Establishment) -> dict | None:
    log = (
        OperationLog.objects.filter(establishment=est, kind="archive_export")
        .order_by("-at", "-pk")
        .first()
    )
    return log.summary if log is not None else None


def purge_possible_on(est: Establishment) -> dt.date | None:
    if est.status != Establishment.Status.CLOSED or est.archived_at is None:
        return None
    days = settings.RETENTION["closed_purge_after_days"]
    return timezone.localtime(est.archived_at).date() + dt.timedelta(days=days)


# --- the export ----------------------------------------------------------------------------


def _name(user: User | None) -> str:
    if user is None:
        return ""
    return f"{user.last_name} {user.first_name}".strip() or user.username


def _subject(subject) -> str:
    return (subject.label or subject.code) if subject is not None else ""


def _tables(est: Establishment) -> dict[str, tuple[list[str], list[list]]]:
    """Each CSV of the bundle: its French headers and rows (the establishment's rows only)."""
    from preau.attendance.models import Absence
    from preau.grades.models import Grade
    from preau.logbook.models import Homework, LogbookEntry
    from preau.timetable.models import TimetableSlot

    memberships = Membership.objects.of(est).select_related("user").order_by("user__username")
    classes = ClassGroup.objects.of(est).order_by("school_year", "kind", "name")
    return {
        "comptes.csv": (
            [
                "identifiant",
                "nom",
                "prénom",
                "profil",
                "administrateur local",
                "date de naissance",
                "INE",
                "courriel",
                "absent de l'annuaire depuis",
                "désactivé",
            ],
            [
                [
                    m.user.username,
                    m.user.last_name,
                    m.user.first_name,
                    m.get_profile_display(),
                    "oui" if m.is_local_admin else "non",
                    m.user.birth_date or "",
                    m.user.ine or "",
                    m.user.email,
                    m.gone_since or "",
                    "oui" if m.disabled else "non",
                ]
                for m in memberships
            ],
        ),
        "classes.csv": (
            ["classe ou groupe", "type", "année scolaire"],
            [
                [c.name, c.get_kind_display(), f"{c.school_year}-{c.school_year + 1}"]
                for c in classes
            ],
        ),
        "eleves_des_classes.csv": (
            ["classe ou groupe", "année scolaire", "identifiant"],
            [
                [
                    m.class_group.name,
                    f"{m.class_group.school_year}-{m.class_group.school_year + 1}",
                    m.user.username,
                ]
                for m in ClassMembership.objects.of(est)
                .select_related("class_group", "user")
                .order_by("class_group__school_year", "class_group__name", "user__username")
            ],
        ),
        "responsables.csv": (
            ["responsable", "élève", "responsable légal"],
            [
                [link.parent.username, link.child.username, "oui" if link.legal_guardian else "non"]
                for link in ParentLink.objects.of(est)
                .select_related("parent", "child")
                .order_by("child__username", "parent__username")
            ],
        ),
        "notes.csv": (
            [
                "date",
                "classe ou groupe",
                "matière",
                "enseignant",
                "évaluation",
                "coefficient",
                "barème",
                "élève",
                "note",
                "absent",
                "non-note",
                "commentaire",
            ],
            [
                [
                    g.assessment.date,
                    g.assessment.class_group.name,
                    _subject(g.assessment.subject),
                    _name(g.assessment.teacher),
                    g.assessment.title,
                    g.assessment.coefficient,
                    g.assessment.scale,
                    g.student.username,
                    "" if g.value is None else g.value,
                    "oui" if g.non_mark == "abs" else "non",
                    g.shown,
                    g.comment,
                ]
                for g in Grade.objects.of(est)
                .select_related(
                    "assessment__class_group",
                    "assessment__subject",
                    "assessment__teacher",
                    "student",
                )
                .order_by("assessment__date", "assessment_id", "student__username")
            ],
        ),
        "absences.csv": (
            [
                "date",
                "heure",
                "élève",
                "classe",
                "type",
                "minutes de retard",
                "statut",
                "motif",
                "motif du refus",
            ],
            [
                [
                    a.date,
                    a.start.strftime("%H:%M"),
                    a.student.username,
                    a.class_group.name if a.class_group else "",
                    a.get_kind_display(),
                    a.minutes_late or "",
                    a.get_status_display(),
                    a.reason,
                    a.refusal_reason,
                ]
                for a in Absence.objects.of(est)
                .select_related("student", "class_group")
                .order_by("date", "start", "student__username")
            ],
        ),
        "emploi_du_temps.csv": (
            [
                "jour",
                "début",
                "fin",
                "classe ou groupe",
                "matière",
                "enseignant",
                "salle",
                "semaines",
            ],
            [
                [
                    s.get_weekday_display(),
                    s.start.strftime("%H:%M"),
                    s.end.strftime("%H:%M"),
                    s.class_group.name,
                    _subject(s.subject),
                    _name(s.teacher),
                    s.room,
                    s.get_week_parity_display() if s.week_parity else "toutes",
                ]
                for s in TimetableSlot.objects.of(est)
                .select_related("class_group", "subject", "teacher")
                .order_by("weekday", "start", "pk")
            ],
        ),
        "cahier_de_textes.csv": (
            ["date", "classe ou groupe", "matière", "enseignant", "titre", "contenu"],
            [
                [
                    e.date,
                    e.class_group.name,
                    _subject(e.subject),
                    _name(e.teacher),
                    e.title,
                    e.content,
                ]
                for e in LogbookEntry.objects.of(est)
                .select_related("class_group", "subject", "teacher")
                .order_by("date", "pk")
            ],
        ),
        "devoirs.csv": (
            [
                "donné le",
                "pour le",
                "classe ou groupe",
                "matière",
                "enseignant",
                "consigne",
                "à rendre",
            ],
            [
                [
                    h.assigned_on,
                    h.due_on,
                    h.class_group.name,
                    _subject(h.subject),
                    _name(h.teacher),
                    h.description,
                    "oui" if h.hand_in else "non",
                ]
                for h in Homework.objects.of(est)
                .select_related("class_group", "subject", "teacher")
                .order_by("due_on", "pk")
            ],
        ),
    }


def _documents(est: Establishment) -> list:
    from preau.documents.models import Document

    return list(
        Document.objects.of(est)
        .select_related("class_group", "subject", "author", "file")
        .order_by("created_at", "pk")
    )


def _bulletins(est: Establishment) -> list:
    """Each pupil's report card (bulletin) of each period as the family downloads it: from the
    latest batch made that holds the pupil (preau.grades.views._bulletin), in period, class and
    name order."""
    from preau.grades.models import Bulletin

    latest = {}
    made = (
        Bulletin.objects.of(est)
        .filter(batch__made_at__isnull=False)
        .select_related("batch__period", "batch__class_group", "student", "file")
        .order_by("batch__made_at", "pk")
    )
    for bulletin in made:
        latest[(bulletin.batch.period_id, bulletin.student_id)] = bulletin
    return sorted(
        latest.values(),
        key=lambda b: (
            b.batch.period.school_year,
            b.batch.period.start,
            b.batch.class_group.name,
            b.student.last_name,
            b.student.first_name,
            b.pk,
        ),
    )


def _bulletin_member(bulletin) -> str:
    period = bulletin.batch.period
    folder = f"{period.school_year}-{period.school_year + 1}-{slugify(period.name) or period.pk}"
    return f"bulletins/{folder}/{slugify(bulletin.batch.class_group.name)}-{bulletin.student.username}.pdf"


def _csv(headers: list[str], rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _add(tar: tarfile.TarFile, path: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(path)
    info.size, info.mtime, info.mode = len(data), mtime, 0o640
    tar.addfile(info, io.BytesIO(data))


def _readme(est: Establishment, manifest: dict) -> bytes:
    lines = [
        f"Archives de l'ENT Préau : {est.name} ({est.town or 'commune non renseignée'}), "
        f"UAI {est.uai}",
        f"Fermé le {_day(est.archived_at or timezone.now())}, exporté le {_day(timezone.now())}.",
        "",
        "Fichiers CSV en UTF-8, séparateur « ; », première ligne : les en-têtes.",
        "manifest.json donne pour chaque fichier son contenu, son nombre de lignes (hors",
        "en-têtes) et son empreinte SHA-256 ; vérifier : sha256sum <fichier>.",
        "",
    ]
    lines += [
        f"{f['chemin']} : {f['contenu']} ({f['lignes']} lignes)" for f in manifest["fichiers"]
    ]
    lines += ["", "Non exportés :"]
    lines += [f"- {what} : {why}" for what, why in EXCLUDED.items()]
    return ("\n".join(lines) + "\n").encode("utf-8")


CONTENTS = {
    "comptes.csv": "comptes des membres de l'établissement et leur profil",
    "classes.csv": "classes et groupes, par année scolaire",
    "eleves_des_classes.csv": "élèves de chaque classe et groupe",
    "responsables.csv": "responsables des élèves",
    "notes.csv": "notes, une ligne par élève et évaluation",
    "absences.csv": "absences et retards",
    "emploi_du_temps.csv": "emploi du temps",
    "cahier_de_textes.csv": "séances du cahier de textes",
    "devoirs.csv": "travail à faire",
    "documents.csv": "documents de cours ; le fichier de chacun est dans documents/",
    "bulletins.csv": "bulletins des élèves par période ; le PDF de chacun est dans bulletins/",
}


def export(est: Establishment, job_id: int | None = None) -> dict:
    """Write the bundle of closed `est` (to a temporary name, renamed once whole) and record
    it; its summary (path, SHA-256, rows per file)."""
    if est.status != Establishment.Status.CLOSED:
        raise ClosureError(f"établissement {est.uai} non fermé : exportation refusée")
    root = Path(settings.PREAU_ARCHIVE_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    now = timezone.now()
    path = root / f"{est.uai}-{now:%Y%m%d-%H%M%S}.tar.gz"
    partial = path.with_name(path.name + ".partiel")
    try:
        entries = _write(est, partial, now)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    digest = _sha256(partial)
    os.replace(partial, path)
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    summary = {
        "job_id": job_id,
        "path": str(path),
        "sha256": digest,
        "bytes": path.stat().st_size,
        "rows": {e["chemin"]: e["lignes"] for e in entries if e["lignes"] is not None},
        "files": sum(1 for e in entries if e["chemin"].startswith(("documents/", "bulletins/"))),
        "finished_at": timezone.now().isoformat(),
    }
    OperationLog.objects.create(establishment=est, kind="archive_export", summary=summary)
    return summary


def _write(est: Establishment, partial: Path, now: dt.datetime) -> list[dict]:
    """The bundle's contents into `partial`; the manifest's entries."""
    entries: list[dict] = []
    mtime = now.timestamp()
    with tarfile.open(partial, "w:gz") as tar:

        def put(name: str, data: bytes, rows: int | None = None, what: str = "") -> None:
            _add(tar, name, data, mtime)
            entries.append(
                {
                    "chemin": name,
                    "contenu": what or CONTENTS.get(name, "fichier d'un document"),
                    "lignes": rows,
                    "octets": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )

        for name, (headers, rows) in _tables(est).items():
            put(name, _csv(headers, rows), len(rows))
        documents, doc_rows = _documents(est), []
        for doc in documents:
            member = f"documents/{doc.pk}-{Path(doc.file.name).name or 'fichier'}"
            doc_rows.append(
                [
                    doc.created_at.date(),
                    doc.class_group.name,
                    _subject(doc.subject),
                    _name(doc.author),
                    doc.title,
                    doc.description,
                    member,
                    doc.file.sha256,
                ]
            )
        put(
            "documents.csv",
            _csv(
                [
                    "date",
                    "classe ou groupe",
                    "matière",
                    "auteur",
                    "titre",
                    "description",
                    "fichier",
                    "sha256 du fichier",
                ],
                doc_rows,
            ),
            len(doc_rows),
        )
        for doc, row in zip(documents, doc_rows, strict=True):
            put(row[6], b"".join(chunks(doc.file)))
        bulletins = _bulletins(est)
        bulletin_rows = [
            [
                f"{b.batch.period.school_year}-{b.batch.period.school_year + 1}",
                b.batch.period.name,
                b.batch.class_group.name,
                b.student.username,
                _name(b.student),
                b.batch.made_at.date(),
                _bulletin_member(b),
                b.file.sha256,
            ]
            for b in bulletins
        ]
        put(
            "bulletins.csv",
            _csv(
                [
                    "année scolaire",
                    "période",
                    "classe",
                    "identifiant",
                    "élève",
                    "fait le",
                    "fichier",
                    "sha256 du fichier",
                ],
                bulletin_rows,
            ),
            len(bulletin_rows),
        )
        for bulletin, row in zip(bulletins, bulletin_rows, strict=True):
            put(row[6], b"".join(chunks(bulletin.file)), what="bulletin d'un élève (PDF)")
        manifest = {
            "format": FORMAT_VERSION,
            "uai": est.uai,
            "nom": est.name,
            "commune": est.town,
            "ferme_le": est.archived_at,
            "exporte_le": now,
            "fichiers": entries,
            "non_exportes": EXCLUDED,
        }
        put("LISEZMOI.txt", _readme(est, manifest))
        _add(
            tar,
            "manifest.json",
            json.dumps(manifest, ensure_ascii=False, indent=2, default=str).encode("utf-8"),
            mtime,
        )
    return entries


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def verify(bundle: dict | None, uai: str) -> None:
    """The bundle is there and whole: its SHA-256 as recorded, and every file of its manifest
    as the manifest says; a ClosureError naming what is wrong otherwise."""
    again = f" : relancez l'exportation (`establishment export {uai}`)"
    if bundle is None:
        raise ClosureError(f"aucune exportation réussie de {uai}{again}")
    path = Path(bundle["path"])
    if not path.is_file():
        raise ClosureError(f"archive {path} introuvable{again}")
    if _sha256(path) != bundle["sha256"]:
        raise ClosureError(f"archive {path} altérée (SHA-256 différent de l'enregistré){again}")
    try:
        with tarfile.open(path, "r:gz") as tar:
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
            for entry in manifest["fichiers"]:
                member = tar.extractfile(entry["chemin"])
                data = member.read() if member is not None else b""
                if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                    raise ClosureError(f"archive {path} : {entry['chemin']} altéré{again}")
    except (tarfile.TarError, KeyError, ValueError, OSError, EOFError) as exc:
        raise ClosureError(f"archive {path} illisible ({exc}){again}") from None


# --- the purge -------------------------------------------------------------------------------


def purge(est: Establishment, today: dt.date | None = None, dry_run: bool = False) -> dict:
    """Delete closed `est`'s rows and the accounts that were its alone, after checking its
    bundle and the date; the counts deleted. One transaction (files are rows: ent.files)."""
    if est.status != Establishment.Status.CLOSED:
        raise ClosureError(
            f"établissement {est.uai} non fermé (statut {est.status}) : purge refusée ; "
            f"`establishment close {est.uai}` d'abord"
        )
    if OperationLog.objects.filter(establishment=est, kind="purge").exists():
        raise ClosureError(f"établissement {est.uai} déjà purgé")
    bundle = last_bundle(est)
    verify(bundle, est.uai)
    possible = purge_possible_on(est)
    today = today or timezone.localdate()
    if possible is not None and today < possible:
        raise ClosureError(
            f"purge de {est.uai} possible à partir du {possible:%d/%m/%Y} "
            f"({settings.RETENTION['closed_purge_after_days']} jours après la fermeture, le "
            f"{_day(est.archived_at or timezone.now())}) ; elle doit avoir lieu au plus tard "
            "3 mois après la fermeture"
        )
    with transaction.atomic():
        lock_directory()
        members = Membership.objects.of(est).values("user_id")
        elsewhere = Membership.objects.exclude(establishment=est).values("user_id")
        alone = list(  # read before the memberships go
            User.objects.filter(pk__in=members, is_superuser=False)
            .exclude(pk__in=elsewhere)
            .values_list("pk", flat=True)
        )
        deleted: dict[str, int] = {}
        for relation in Establishment._meta.get_fields(include_hidden=True):
            if not isinstance(relation, ForeignObjectRel):
                continue
            model = relation.field.model
            if model is Establishment:  # those merged into it keep pointing at its row
                continue
            _, by_model = model._base_manager.filter(**{relation.field.name: est}).delete()
            for label, n in by_model.items():
                deleted[label] = deleted.get(label, 0) + n
        _, by_model = User.objects.filter(pk__in=alone).delete()
        for label, n in by_model.items():
            deleted[label] = deleted.get(label, 0) + n
        summary = {
            "deleted": {label: n for label, n in sorted(deleted.items()) if n},
            "accounts_deleted": deleted.get(User._meta.label, 0),
            "bundle": {"path": bundle["path"], "sha256": bundle["sha256"]},  # type: ignore[index]
            "at": timezone.now().isoformat(),
        }
        OperationLog.objects.create(establishment=est, kind="purge", summary=summary)
        if dry_run:
            transaction.set_rollback(True)
    if not dry_run:  # files outside the database, once its deletion is committed
        from preau.gar.export import remove_files

        summary["gar_exports_removed"] = remove_files(est.uai)
    return summary
