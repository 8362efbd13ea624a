"""The GAR in an establishment: enabled or not, the resources of its médiacentre, and its
directory exports (made, sent to the GAR's SFTP drop, or why not)."""

import argparse

from preau.cas.protocol import url_problem
from preau.core.management.base import (
    OpsCommand,
    OpsError,
    applied_unless_dry,
    get_establishment,
)
from preau.core.models import Profile
from preau.gar.models import GarExport, GarResource


class Command(OpsCommand):
    help = (
        "GAR of an establishment: enable, disable, add, list, remove (médiacentre resources), "
        "exports (the directory exports and their transfer)."
    )
    changes_data = False  # --dry-run is declared per sub-command

    def add_arguments(self, parser):
        sub = parser.add_subparsers(
            dest="action", required=True, metavar="{enable,disable,add,list,remove,exports}"
        )
        enable = sub.add_parser("enable", help="the GAR opened to UAI's members")
        disable = sub.add_parser("disable", help="the GAR closed (no assertion any more)")
        add = sub.add_parser("add", help="a resource in UAI's médiacentre")
        remove = sub.add_parser("remove", help="a resource withdrawn from UAI's médiacentre")
        for p in (enable, disable, add, remove):
            p.add_argument("uai")
            p.add_argument("--dry-run", action="store_true")
        add.add_argument("url", metavar="URL", help="the resource's address (https)")
        add.add_argument("--title", required=True)
        add.add_argument("--description", default="")
        add.add_argument(
            "--profiles",
            default="",
            help=f"shown to these profiles, comma-separated, among {', '.join(Profile.values)} "
            "(default: every profile)",
        )
        listing = sub.add_parser("list", help="the resources of one establishment, or of all")
        listing.add_argument("uai", nargs="?")
        remove.add_argument("url", metavar="URL")
        exports = sub.add_parser("exports", help="the directory exports kept, newest first")
        exports.add_argument("uai", nargs="?")
        for p in (enable, disable, add, listing, remove, exports):
            p.add_argument(
                "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable"
            )

    def run(self, action, **options):
        return getattr(self, f"do_{action}")(**options)

    def _switch(self, action, uai, on: bool, dry_run=False):
        est = get_establishment(uai)
        if not dry_run:
            est.settings = {**est.settings, "gar": on}
            est.save(update_fields=["settings"])
        return {"action": action, "dry_run": dry_run, "uai": est.uai, "gar": on}

    def do_enable(self, uai, dry_run=False, **_):
        return self._switch("enable", uai, True, dry_run)

    def do_disable(self, uai, dry_run=False, **_):
        return self._switch("disable", uai, False, dry_run)

    def do_add(self, uai, url, title, description, profiles, dry_run=False, **_):
        est = get_establishment(uai)
        errors = []
        if not title.strip():
            errors.append("--title ne peut pas être vide")
        problem = url_problem(url)
        if problem:
            errors.append(f"adresse refusée : {problem}")
        chosen = [p.strip().upper() for p in profiles.split(",") if p.strip()]
        for unknown in sorted(set(chosen) - set(Profile.values)):
            errors.append(f"profil inconnu {unknown!r} (au choix : {', '.join(Profile.values)})")
        if GarResource.objects.filter(establishment=est, url=url).exists():
            errors.append(f"{est.uai} a déjà la ressource {url}")
        if errors:
            raise OpsError(f"ressource non ajoutée : {' ; '.join(errors)}", errors=errors)

        def add():
            resource = GarResource.objects.create(
                establishment=est,
                title=title.strip(),
                url=url,
                description=description.strip(),
                profiles=sorted(set(chosen), key=Profile.values.index),
            )
            return {"action": "add", "dry_run": dry_run, "resource": _describe(resource)}

        return applied_unless_dry(dry_run, add)

    def do_list(self, uai=None, **_):
        resources = GarResource.objects.select_related("establishment").order_by(
            "establishment__uai", "title"
        )
        if uai:
            resources = resources.filter(establishment=get_establishment(uai, allow_inactive=True))
        return {"action": "list", "resources": [_describe(r) for r in resources]}

    def do_remove(self, uai, url, dry_run=False, **_):
        est = get_establishment(uai, allow_inactive=True)
        resource = GarResource.objects.filter(establishment=est, url=url).first()
        if resource is None:
            raise OpsError(f"{est.uai} n'a pas de ressource {url}")

        def remove():
            described = _describe(resource)
            resource.delete()
            return {"action": "remove", "dry_run": dry_run, "resource": described}

        return applied_unless_dry(dry_run, remove)

    def do_exports(self, uai=None, **_):
        records = GarExport.objects.select_related("establishment").order_by(
            "establishment__uai", "-created_at", "-id"
        )
        if uai:
            records = records.filter(establishment=get_establishment(uai, allow_inactive=True))
        return {"action": "exports", "exports": [_export(r) for r in records]}

    def render(self, r):
        dry = " (SIMULATION, rien n'a été modifié)" if r.get("dry_run") else ""
        if r["action"] == "exports":
            if not r["exports"]:
                return "Aucun export."
            return "\n".join(_export_line(x) for x in r["exports"])
        if r["action"] == "list":
            if not r["resources"]:
                return "Aucune ressource."
            return "\n".join(_line(x) for x in r["resources"])
        if r["action"] in ("enable", "disable"):
            state = "ouvert" if r["gar"] else "fermé"
            return f"GAR {state}{dry} : {r['uai']}"
        verb = "ajoutée" if r["action"] == "add" else "retirée"
        return f"Ressource {verb}{dry} : {_line(r['resource'])}"


def _describe(resource: GarResource) -> dict:
    return {
        "uai": resource.establishment.uai,
        "title": resource.title,
        "url": resource.url,
        "description": resource.description,
        "profiles": resource.profiles,
    }


def _line(r: dict) -> str:
    return f"{r['uai']}  {r['title']}  {r['url']}  profils : {', '.join(r['profiles']) or 'tous'}"


def _export(record: GarExport) -> dict:
    return {
        "uai": record.establishment.uai,
        "id": record.pk,
        "created_at": record.created_at.isoformat(),
        "nightly": record.nightly,
        "status": record.status,
        "error": record.error,
        "directory": record.directory,
        "warnings": record.warnings,
        "transfer": record.transfer or "off",
        "transfer_attempts": record.transfer_attempts,
        "transfer_error": record.transfer_error,
        "sent_at": record.sent_at.isoformat() if record.sent_at else None,
    }


def _export_line(x: dict) -> str:
    why = x["error"] or x["transfer_error"]
    line = f"{x['uai']}  #{x['id']}  {x['created_at']}  {x['status']}  envoi : {x['transfer']}"
    return f"{line}  ({why})" if why else line
