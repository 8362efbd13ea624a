"""The partner services an establishment opens to its members through Préau's CAS server."""

import argparse

from preau.cas.models import ATTRIBUTES, CasService
from preau.cas.protocol import prefix_problem
from preau.core.management.base import (
    OpsCommand,
    OpsError,
    applied_unless_dry,
    get_establishment,
)


class Command(OpsCommand):
    help = "Partner services of an establishment (CAS): add, list, remove."
    changes_data = False  # --dry-run is declared per sub-command

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{add,list,remove}")
        add = sub.add_parser(
            "add", help="allow a service (every https URL starting with PREFIX) to UAI's members"
        )
        add.add_argument("uai")
        add.add_argument("url_prefix", metavar="PREFIX")
        add.add_argument("--name", required=True)
        add.add_argument(
            "--attributes",
            default="",
            help=f"released attributes, comma-separated, among {', '.join(ATTRIBUTES)} "
            "(default: none, the login only)",
        )
        add.add_argument("--proxy", action="store_true", help="proxy tickets allowed (off)")
        listing = sub.add_parser("list", help="the services of one establishment, or of all")
        listing.add_argument("uai", nargs="?")
        remove = sub.add_parser("remove", help="withdraw a service from an establishment")
        remove.add_argument("uai")
        remove.add_argument("url_prefix", metavar="PREFIX")
        for p in (add, remove):
            p.add_argument("--dry-run", action="store_true")
        for p in (add, listing, remove):
            p.add_argument(
                "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable"
            )

    def run(self, action, **options):
        return getattr(self, f"do_{action}")(**options)

    def do_add(self, uai, url_prefix, name, attributes, proxy=False, dry_run=False, **_):
        est = get_establishment(uai)
        errors = []
        if not name.strip():
            errors.append("--name ne peut pas être vide")
        problem = prefix_problem(url_prefix)
        if problem:
            errors.append(f"préfixe refusé : {problem}")
        chosen = [a.strip() for a in attributes.split(",") if a.strip()]
        for unknown in sorted(set(chosen) - set(ATTRIBUTES)):
            errors.append(f"attribut inconnu {unknown!r} (au choix : {', '.join(ATTRIBUTES)})")
        if CasService.objects.filter(establishment=est, url_prefix=url_prefix).exists():
            errors.append(f"{est.uai} a déjà un service de préfixe {url_prefix}")
        if errors:
            raise OpsError(f"service non ajouté : {' ; '.join(errors)}", errors=errors)

        def add():
            service = CasService.objects.create(
                establishment=est,
                name=name.strip(),
                url_prefix=url_prefix,
                attributes=sorted(set(chosen), key=list(ATTRIBUTES).index),
                proxy_allowed=proxy,
            )
            return {"action": "add", "dry_run": dry_run, "service": _describe(service)}

        return applied_unless_dry(dry_run, add)

    def do_list(self, uai=None, **_):
        services = CasService.objects.select_related("establishment").order_by(
            "establishment__uai", "url_prefix"
        )
        if uai:
            services = services.filter(establishment=get_establishment(uai, allow_inactive=True))
        return {"action": "list", "services": [_describe(s) for s in services]}

    def do_remove(self, uai, url_prefix, dry_run=False, **_):
        est = get_establishment(uai, allow_inactive=True)
        service = CasService.objects.filter(establishment=est, url_prefix=url_prefix).first()
        if service is None:
            raise OpsError(f"{est.uai} n'a pas de service de préfixe {url_prefix}")

        def remove():
            described = _describe(service)
            service.delete()  # its tickets not yet validated with it
            return {"action": "remove", "dry_run": dry_run, "service": described}

        return applied_unless_dry(dry_run, remove)

    def render(self, r):
        dry = " (SIMULATION, rien n'a été modifié)" if r.get("dry_run") else ""
        if r["action"] == "list":
            if not r["services"]:
                return "Aucun service CAS."
            return "\n".join(_line(s) for s in r["services"])
        verb = "ajouté" if r["action"] == "add" else "retiré"
        return f"Service {verb}{dry} : {_line(r['service'])}"


def _describe(service: CasService) -> dict:
    return {
        "uai": service.establishment.uai,
        "name": service.name,
        "url_prefix": service.url_prefix,
        "attributes": service.attributes,
        "proxy_allowed": service.proxy_allowed,
    }


def _line(s: dict) -> str:
    attributes = ", ".join(s["attributes"]) or "aucun (l'identifiant de connexion seul)"
    proxy = "oui" if s["proxy_allowed"] else "non"
    return f"{s['uai']}  {s['name']}  {s['url_prefix']}  attributs : {attributes} ; proxy : {proxy}"
