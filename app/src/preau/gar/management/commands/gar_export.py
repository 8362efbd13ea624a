"""The GAR directory export of one establishment, now (the job `gar_export` runs the same code)."""

from preau.core.management.base import OpsCommand, OpsError, get_establishment
from preau.gar import export


class Command(OpsCommand):
    help = "Write UAI's GAR directory export (establishment, pupils, staff, groups, subjects)."
    changes_data = False

    def add_arguments(self, parser):
        parser.add_argument("uai")
        parser.add_argument(
            "--output", default="", help="directory (default: [federation] gar_export_dir)"
        )

    def run(self, uai, output="", **_):
        est = get_establishment(uai)
        try:
            return export.run(est.uai, output)
        except export.ExportError as exc:
            raise OpsError(f"export GAR non fait : {exc}") from exc

    def render(self, r):
        counts = ", ".join(f"{name} {n}" for name, n in sorted(r["counts"].items()))
        return "\n".join([f"Export GAR de {r['uai']} : {counts}", *r["files"]])
