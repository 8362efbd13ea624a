import argparse

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from preau.core import closure, importer
from preau.core import merge as merging
from preau.core.management.base import OpsCommand, OpsError, get_establishment
from preau.core.management.commands.import_aaf import import_refused, render_import
from preau.core.models import (
    Establishment,
    EstablishmentAlias,
    OperationLog,
    Platform,
    Profile,
)
from preau.core.uai import normalize, uai_error


class Command(OpsCommand):
    help = (
        "Manage establishments: create, archive, list, merge, admin; close one for good: "
        "close, closure, export, purge (in that order)."
    )
    changes_data = False  # --dry-run is declared per sub-command

    def add_arguments(self, parser):
        sub = parser.add_subparsers(
            dest="action",
            required=True,
            metavar="{create,add,archive,list,merge,admin,close,closure,export,purge}",
        )
        create = sub.add_parser("create", help="create an establishment")
        add = sub.add_parser(
            "add",
            help="create an establishment (or take the active one of that UAI) and import its "
            "AAF files, in one transaction: a refused import leaves nothing behind",
        )
        for p in (create, add):
            p.add_argument("uai")
            p.add_argument("--name", required=True)
            p.add_argument("--town", default="")
            p.add_argument("--dry-run", action="store_true")
        add.add_argument(
            "--aaf", nargs="+", default=[], metavar="FILE", help="complete AAF XML files"
        )
        archive = sub.add_parser(
            "archive", help="archive an establishment (users keep their accounts)"
        )
        archive.add_argument("uai")
        archive.add_argument("--dry-run", action="store_true")
        sub.add_parser("list", help="list establishments with their counts")
        admin = sub.add_parser("admin", help="name (or --remove) a local administrator (ADML)")
        admin.add_argument("uai")
        admin.add_argument("username")
        admin.add_argument("--remove", action="store_true")
        admin.add_argument(
            "--profile",
            choices=Profile.values,
            default="DIR",
            help="profile if the user is not yet a member (default DIR)",
        )
        admin.add_argument("--dry-run", action="store_true")
        merge = sub.add_parser("merge", help="merge SRC_UAI into DST_UAI (SRC becomes an alias)")
        merge.add_argument("src_uai")
        merge.add_argument("dst_uai")
        merge.add_argument("--dry-run", action="store_true")
        closing = self.add_closure_commands(sub)
        for p in (create, add, archive, merge, admin, sub.choices["list"], *closing):
            p.add_argument(
                "--json",
                action="store_true",
                default=argparse.SUPPRESS,
                help="machine-readable output",
            )

    def add_closure_commands(self, sub) -> list:
        limits = (
            "(the purge: not before [retention] closed_purge_after_days "
            f"({settings.RETENTION['closed_purge_after_days']}) days after the closing, and "
            "within 3 months of it: arrêté of 30 Nov 2006, art. 6; docs/domain.md)"
        )
        close = sub.add_parser(
            "close",
            help="1. close an establishment for good (its members reach nothing, imports are "
            "refused) and queue the export of its archive bundle as a background job; returns "
            "the job's id at once (follow it with `closure`) " + limits,
        )
        status = sub.add_parser(
            "closure",
            help="2. where a closure stands: the export job, the bundle (path, SHA-256, rows) "
            "and the day the purge becomes possible",
        )
        export = sub.add_parser(
            "export",
            help="queue the export of a closed establishment again (a failed job, a bundle "
            "lost or altered); returns the job's id",
        )
        purge = sub.add_parser(
            "purge",
            help="3. delete a closed establishment's data and its accounts that belong nowhere "
            "else, once its bundle is checked whole (SHA-256) and the date allows " + limits,
        )
        purge.add_argument("--dry-run", action="store_true")
        for p in (close, status, export, purge):
            p.add_argument("uai")
        return [close, status, export, purge]

    def run(self, action, **options):
        return getattr(self, f"do_{action}")(**options)

    def do_create(self, uai, name, town, dry_run=False, **_):
        uai = _free_uai(uai)
        if not name.strip():
            raise OpsError("--name ne peut pas être vide")
        with transaction.atomic():
            est = Establishment.objects.create(uai=uai, name=name.strip(), town=town.strip())
            result = {"action": "create", "dry_run": dry_run, "establishment": _describe(est)}
            if dry_run:
                transaction.set_rollback(True)
        return result

    def do_add(self, uai, name, town, aaf, dry_run=False, **_):
        """The establishment (created, or the active one of that UAI) and its directory, in
        one transaction: an import refused takes the creation back with it."""
        active = Establishment.objects.filter(
            uai=normalize(uai), status=Establishment.Status.ACTIVE
        )
        with transaction.atomic():
            est = active.first()
            result = {"action": "add", "dry_run": dry_run, "created": est is None}
            if est is None:
                self.do_create(uai, name, town)
                est = active.get()
            if aaf:
                try:
                    result["import"] = importer.import_aaf(est, aaf, dry_run=dry_run)
                except importer.ImportRejected as exc:
                    raise import_refused(exc, self.as_json) from None
            result["establishment"] = _describe(est)
            if dry_run:
                transaction.set_rollback(True)
        return result

    def do_archive(self, uai, dry_run=False, **_):
        with transaction.atomic():
            est = get_establishment(uai)
            est.status = Establishment.Status.ARCHIVED
            est.archived_at = timezone.now()
            est.save(update_fields=["status", "archived_at"])
            result = {"action": "archive", "dry_run": dry_run, "establishment": _describe(est)}
            if dry_run:
                transaction.set_rollback(True)
        return result

    def do_admin(self, uai, username, remove=False, profile="DIR", dry_run=False, **_):
        from preau.core.models import Membership, User

        with transaction.atomic():
            est = get_establishment(uai)
            user = User.objects.filter(username=username.lower()).first()
            if user is None:
                raise OpsError(f"utilisateur {username} inconnu")
            membership = Membership.objects.filter(user=user, establishment=est).first()
            if membership is None:
                if remove:
                    raise OpsError(f"{username} n'est pas membre de {est.uai}")
                membership = Membership(user=user, establishment=est, profile=profile)
            membership.is_local_admin = not remove
            membership.gone_since = None if not remove else membership.gone_since
            membership.save()
            result = {
                "action": "admin",
                "dry_run": dry_run,
                "establishment": _describe(est),
                "username": user.username,
                "local_admin": membership.is_local_admin,
                "profile": membership.profile,
            }
            if dry_run:
                transaction.set_rollback(True)
        return result

    def do_list(self, **_):
        year = Platform.current_school_year()
        rows = (
            Establishment.objects.annotate(
                classes_count=Count(
                    "classes",
                    filter=Q(classes__kind="class", classes__school_year=year),
                    distinct=True,
                )
            )
            .prefetch_related("aliases")
            .order_by("uai")
        )
        by_profile = {}
        from preau.core.models import Membership

        for est_id, profile, n in (
            Membership.objects.present()
            .values_list("establishment_id", "profile")
            .annotate(n=Count("id"))
        ):
            by_profile.setdefault(est_id, {})[profile] = n
        last_import = dict(
            OperationLog.objects.filter(kind__startswith="import")
            .values_list("establishment_id")
            .annotate(m=Max("at"))
        )
        items = []
        for est in rows:
            item = _describe(est)
            counts = by_profile.get(est.pk, {})
            item["users_by_profile"] = {p: counts.get(p, 0) for p in Profile.values}
            item["users"] = sum(counts.values())
            item["classes"] = est.classes_count
            item["last_import"] = last_import.get(est.pk)
            items.append(item)
        return {"action": "list", "school_year": year, "establishments": items}

    def do_merge(self, src_uai, dst_uai, dry_run=False, **_):
        src, dst = normalize(src_uai), normalize(dst_uai)
        for uai in (src, dst):
            if uai_error(uai):
                raise OpsError(uai_error(uai))
        try:
            report = merging.merge(src, dst, dry_run=dry_run)
        except merging.MergeError as exc:
            raise OpsError(f"fusion refusée : {exc}") from None
        return {"action": "merge", **report}

    def do_close(self, uai, **_):
        with transaction.atomic():
            est = get_establishment(uai, allow_inactive=True)
            job_id = _closing(closure.close, est)
        return {"action": "close", "job_id": job_id, **closure.state(est)}

    def do_export(self, uai, **_):
        with transaction.atomic():
            est = get_establishment(uai, allow_inactive=True)
            job_id = _closing(closure.request_export, est)
        return {"action": "export", "job_id": job_id, **closure.state(est)}

    def do_closure(self, uai, **_):
        return {"action": "closure", **closure.state(get_establishment(uai, allow_inactive=True))}

    def do_purge(self, uai, dry_run=False, **_):
        est = get_establishment(uai, allow_inactive=True)
        report = _closing(closure.purge, est, dry_run=dry_run)
        return {"action": "purge", "dry_run": dry_run, "uai": est.uai, **report}

    def render(self, result):
        action = result["action"]
        if action in ("close", "export", "closure", "purge"):
            return _render_closure(result)
        if action == "list":
            lines = [
                f"{'UAI':9} {'statut':9} {'utilisateurs':>12} {'classes':>7}  dernier import   nom"
            ]
            for e in result["establishments"]:
                last = (
                    e["last_import"].astimezone().strftime("%d/%m/%Y %H:%M")
                    if e["last_import"]
                    else "-"
                )
                lines.append(
                    f"{e['uai']:9} {e['status']:9} {e['users']:>12} {e['classes']:>7}  "
                    f"{last:16} {e['name']}"
                )
                lines.append(
                    "          " + " ".join(f"{p}={n}" for p, n in e["users_by_profile"].items())
                )
            return "\n".join(lines)
        dry = " (SIMULATION, rien n'a été modifié)" if result.get("dry_run") else ""
        if action == "merge":
            lines = [f"Fusion de {result['src']} dans {result['dst']}{dry}"]
            lines.append(f"{'':22}{'avant SRC':>10}{'avant DST':>10}{'après DST':>10}")
            for key in (
                "memberships",
                "classes",
                "groups",
                "class_memberships",
                "subjects",
                "teachings",
                "parent_links",
                "operations",
                "aliases",
            ):
                lines.append(
                    f"{key:22}{result['before']['src'][key]:>10}{result['before']['dst'][key]:>10}"
                    f"{result['after']['dst'][key]:>10}"
                )
            for r in result["renamed_classes"]:
                lines.append(f"classe renommée : {r['from']} → {r['to']}")
            for m in result["merged_accounts"]:
                lines.append(f"comptes fusionnés : {m['absorbed']} → {m['kept']}")
            lines.append(f"doublons fusionnés : {result['merged_memberships']} rattachement(s)")
            lines += _partner_lines(result)
            lines.append(
                "contrôles : " + ("OK" if all(c["ok"] for c in result["checks"]) else "ÉCHEC")
            )
            return "\n".join(lines)
        e = result["establishment"]
        if action == "admin":
            state = (
                "administrateur local"
                if result["local_admin"]
                else "n'est plus administrateur local"
            )
            return f"{result['username']} : {state} de {e['uai']} {e['name']}{dry}"
        if action == "add":
            return _render_add(result, dry)
        verb = {"create": "créé", "archive": "archivé"}[action]
        return f"Établissement {e['uai']} {e['name']} ({e['town']}) {verb}{dry}"


def _closing(step, est, **kwargs):
    try:
        return step(est, **kwargs)
    except closure.ClosureError as exc:
        raise OpsError(str(exc)) from None


def _render_closure(r: dict) -> str:
    if r["action"] == "purge":
        dry = " (SIMULATION, rien n'a été modifié)" if r["dry_run"] else ""
        lines = [f"Purge de {r['uai']}{dry} : {r['accounts_deleted']} compte(s) supprimé(s)"]
        lines += [f"  {label} : {n}" for label, n in r["deleted"].items()]
        lines.append(f"archive vérifiée : {r['bundle']['path']}")
        return "\n".join(lines)
    lines = [f"Établissement {r['uai']} {r['name']} : statut {r['status']}"]
    if r.get("job_id"):
        lines.append(
            f"exportation en file : tâche {r['job_id']} (suivre : establishment closure {r['uai']})"
        )
    job = r["export_job"]
    if job is not None:
        lines.append(f"dernière exportation : tâche {job['id']}, {job['label']}")
    bundle = r["bundle"]
    if bundle is not None:
        lines.append(f"archive : {bundle['path']} (SHA-256 {bundle['sha256']})")
        lines += [f"  {name} : {n} ligne(s)" for name, n in bundle["rows"].items()]
    if r["purged"]:
        lines.append(f"purgé le {r['purged']['at']}")
    elif r["purge_possible_on"]:
        lines.append(f"purge possible à partir du {r['purge_possible_on']:%d/%m/%Y}")
    return "\n".join(lines)


def _free_uai(uai: str) -> str:
    """`uai` normalised, or a refusal that names the establishment holding it, its state and
    what to do instead."""
    uai = normalize(uai)
    problem = uai_error(uai)
    if problem:
        raise OpsError(problem)
    est = Establishment.objects.filter(uai=uai).select_related("merged_into").first()
    if est is not None:
        held = f"établissement {uai} déjà existant : {est.name} ({est.town or '?'}), {_state(est)}"
        heir = est.merged_into if est.status == Establishment.Status.MERGED else None
    else:
        alias = EstablishmentAlias.objects.filter(uai=uai).select_related("establishment").first()
        if alias is None:
            return uai
        heir = alias.establishment
        held = f"{uai} est un alias laissé par une fusion, de {heir.uai} {heir.name}"
    raise OpsError(
        f"{held} ; rien n'a été créé. Choisissez un autre UAI (voir `establishment list`)"
        + (f", ou importez dans {heir.uai}" if heir is not None and heir.is_active else "")
    )


def _state(est: Establishment) -> str:
    when = est.archived_at.astimezone().strftime("%d/%m/%Y") if est.archived_at else "?"
    if est.status == Establishment.Status.MERGED and est.merged_into is not None:
        return f"fusionné dans {est.merged_into.uai} {est.merged_into.name} le {when}"
    if est.status == Establishment.Status.ARCHIVED:
        return f"archivé le {when}"
    if est.status == Establishment.Status.CLOSED:
        return f"fermé le {when}"
    return "actif"


def _describe(est: Establishment) -> dict:
    return {
        "uai": est.uai,
        "name": est.name,
        "town": est.town,
        "status": est.status,
        "join_key": est.join_key,
        "aliases": [a.uai for a in est.aliases.all()] if est.pk else [],
        "merged_into": est.merged_into.uai if est.merged_into is not None else None,
        "maintenance": est.maintenance,
        "archived_at": est.archived_at,
    }


def _render_add(result: dict, dry: str) -> str:
    e = result["establishment"]
    done = "créé" if result["created"] else "existant, repris"
    lines = [f"Établissement {e['uai']} {e['name']} ({e['town']}) {done}{dry}"]
    if result.get("import"):
        lines.append(render_import(result["import"]))
    return "\n".join(lines)


def _partner_lines(result: dict) -> list[str]:
    """What a merge did with the source's partner services (CAS) and médiacentre (GAR)."""
    lines = [
        f"service partenaire (CAS) repris : {name}" for name in result["cas_services"]["moved"]
    ]
    for d in result["cas_services"]["dropped"]:
        lines.append(
            f"service partenaire (CAS) {d['name']} non repris : la destination a déjà "
            f"« {d['kept']} » pour {d['url_prefix']}"
        )
    for url in result["gar"]["resources_moved"]:
        lines.append(f"ressource du médiacentre (GAR) reprise : {url}")
    for url in result["gar"]["resources_merged"]:
        lines.append(f"ressource du médiacentre (GAR) déjà présente, profils réunis : {url}")
    return lines
