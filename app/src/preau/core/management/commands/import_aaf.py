from pathlib import Path

from preau.core import delta, importer
from preau.core.feed import FeedError
from preau.core.management.base import OpsCommand, OpsError, get_establishment


def render_import(result: dict) -> str:
    lines = [
        f"Import {result['kind']} de {result['uai']} ({', '.join(result['files'])})"
        + (" — SIMULATION, rien n'a été modifié" if result["dry_run"] else "")
    ]
    for name, counts in result.items():
        if isinstance(counts, dict) and name != "totals":
            lines.append(f"  {name:18} " + "  ".join(f"{k} {v}" for k, v in counts.items()))
    totals = result["totals"]
    lines.append(
        f"Total : {totals['created']} créé(s), {totals['updated']} modifié(s), "
        f"{result['persons_in_feed']} personne(s) dans le flux"
    )
    notices = result.get("notices") or []
    if notices:
        lines.append(f"À vérifier ({len(notices)}) :")
        lines.extend(f"  - {line}" for line in notices)
    return "\n".join(lines)


def import_refused(exc: importer.ImportRejected, as_json: bool) -> OpsError:
    """The refusal of a rejected feed: every defect, as JSON objects (file, record, attribute,
    message) for --json, as lines otherwise."""
    return OpsError(
        f"import refusé : {len(exc.errors)} erreur(s), rien n'a été importé",
        [e.as_dict() if as_json else str(e) for e in exc.errors],
    )


class Command(OpsCommand):
    help = (
        "Import complete AAF XML files (EtabEducNat, Eleve, PersRelEleve, PersEducNat) for one "
        "establishment, or the delta files of one delivery (…_Delta_AAAAMMJJ_…)."
    )
    kind = "aaf"

    def add_arguments(self, parser):
        parser.add_argument("uai")
        parser.add_argument("files", nargs="+")
        if self.kind == "aaf":
            parser.add_argument(
                "--confirm",
                action="store_true",
                help="delta files: apply them even if they remove more than [aaf] "
                "max_removal_percent of the accounts",
            )

    def run(self, uai, files, dry_run=False, confirm=False, **options):
        establishment = get_establishment(uai)
        if self.kind == "aaf" and any(delta.DELTA_NAME.match(Path(f).name) for f in files):
            return self.run_delta(establishment, files, dry_run, confirm)
        do_import = importer.import_aaf if self.kind == "aaf" else importer.import_csv
        try:
            return do_import(establishment, files, dry_run=dry_run)
        except importer.ImportRejected as exc:
            raise import_refused(exc, self.as_json) from None

    def run_delta(self, establishment, files, dry_run, confirm):
        """One delivery's delta files, as the drop directory's job applies them
        (core/delta.py): refused whole on a defect, held by the removal guard unless
        --confirm, never applied twice."""
        matches = [delta.DELTA_NAME.match(Path(f).name) for f in files]
        deliveries = {m["delivery"] for m in matches if m}
        if None in matches or len(deliveries) > 1:
            raise OpsError(
                "fichiers delta d'une seule livraison attendus (…_Delta_AAAAMMJJ_<catégorie>_"
                f"<n>.xml, une seule date) : {', '.join(Path(f).name for f in files)}"
            )
        result = delta.apply_delivery(
            establishment, deliveries.pop(), files, confirmed=confirm, dry_run=dry_run
        )
        if result["status"] == "refused":
            errors = result["errors"]
            raise OpsError(
                f"delta refusé : {len(errors)} erreur(s), rien n'a été appliqué",
                errors if self.as_json else [str(FeedError(**e)) for e in errors],
            )
        if result["status"] == "pending":
            raise OpsError(
                f"delta non appliqué : {result['message']}", details={"status": "pending"}
            )
        return result

    def render(self, result):
        if result.get("kind") == delta.KIND or result.get("status") == "skipped":
            return f"Delta {result['delivery']} de {result['uai']} : " + (
                "déjà appliqué, ignoré" if result["status"] == "skipped" else render_import(result)
            )
        return render_import(result)
