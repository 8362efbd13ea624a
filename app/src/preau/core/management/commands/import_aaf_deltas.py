from preau.core import delta
from preau.core.management.base import OpsCommand, OpsError
from preau.core.management.commands.import_aaf import render_import

STATUS = {
    "applied": "appliquée",
    "refused": "REFUSÉE, rien n'a été appliqué",
    "pending": "EN ATTENTE de confirmation, rien n'a été appliqué",
    "skipped": "déjà appliquée, ignorée",
}


class Command(OpsCommand):
    help = (
        "Import the AAF delta files waiting in the drop directory ([aaf] drop_dir), oldest "
        "delivery first (what the import_aaf_deltas job does); --confirm lets a delivery held "
        "by the removal guard through."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--confirm",
            default="",
            metavar="FICHIER",
            help="a file of the delivery waiting for confirmation (path or name)",
        )

    def run(self, confirm="", dry_run=False, **options):
        try:
            result = delta.run(confirm=confirm, dry_run=dry_run)
        except delta.DeltaError as exc:
            raise OpsError(str(exc)) from None
        except OSError as exc:  # the drop directory unreadable, a file that cannot be moved
            raise OpsError(
                f"répertoire de dépôt des deltas AAF : {exc.strerror or exc} ({exc.filename})"
            ) from None
        refused = [r for r in result["deliveries"] if r["status"] == "refused"]
        if refused or result["problems"]:
            errors = [{**e, "delivery": r["delivery"]} for r in refused for e in r["errors"]]
            raise OpsError(
                f"{len(refused)} livraison(s) refusée(s), {len(result['problems'])} problème(s)",
                errors if self.as_json else [*map(_line, errors), *result["problems"]],
                details=result,
            )
        return result

    def render(self, result):
        lines = [f"Deltas AAF : {len(result['deliveries'])} livraison(s)"]
        for r in result["deliveries"]:
            lines.append(f"{r['uai']} {r['delivery']} : {STATUS[r['status']]}")
            if r["status"] == "applied":
                lines.append(render_import(r))
            if r.get("message"):
                lines.append(f"  {r['message']}")
        return "\n".join(lines)


def _line(error: dict) -> str:
    return (
        f"{error['delivery']} · {error['file']} · enregistrement {error['record']} · "
        f"{error['attribute']} : {error['message']}"
    )
