"""The GAR directory export of one establishment, now: as the job `gar_export` does (recorded,
the older ones pruned, its transfer to the GAR deferred), or with --output only its files in a
directory of the operator's choice (nothing recorded nor sent)."""

from preau.core.management.base import OpsCommand, OpsError, get_establishment
from preau.gar import export


class Command(OpsCommand):
    help = (
        "Make UAI's GAR directory export (establishment, pupils, staff, groups, subjects, "
        "responsables d'affectation) in [federation] gar_export_dir, recorded and sent as the "
        "nightly one; or, with --output DIR, only write its files there."
    )
    changes_data = False

    def add_arguments(self, parser):
        parser.add_argument("uai")
        parser.add_argument("--output", default="", help="only write the files into this directory")

    def run(self, uai, output="", **_):
        est = get_establishment(uai)
        try:
            if output:
                return export.run(est.uai, output)
            return export.make(est.uai)
        except export.ExportError as exc:
            raise OpsError(f"export GAR non fait : {exc}") from exc

    def render(self, r):
        counts = ", ".join(f"{name} {n}" for name, n in sorted(r["counts"].items()))
        lines = [f"Export GAR de {r['uai']} : {counts}", *r["files"]]
        lines += [f"Attention : {w}" for w in r["warnings"]]
        if r.get("transfer") == "pending":
            lines.append("Envoi au GAR (SFTP) demandé : tâche gar_transfer.")
        return "\n".join(lines)
