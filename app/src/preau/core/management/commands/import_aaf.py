from preau.core import importer
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
    help = "Import complete AAF XML files (EtabEducNat, Eleve, PersRelEleve, PersEducNat) for one establishment."
    kind = "aaf"

    def add_arguments(self, parser):
        parser.add_argument("uai")
        parser.add_argument("files", nargs="+")

    def run(self, uai, files, dry_run=False, **options):
        establishment = get_establishment(uai)
        do_import = importer.import_aaf if self.kind == "aaf" else importer.import_csv
        try:
            return do_import(establishment, files, dry_run=dry_run)
        except importer.ImportRejected as exc:
            raise import_refused(exc, self.as_json) from None

    def render(self, result):
        return render_import(result)
