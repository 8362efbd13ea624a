from pathlib import Path

from preau.core.management.base import OpsCommand, OpsError, get_establishment
from preau.timetable import imports


class Command(OpsCommand):
    help = (
        "Import a timetable (CSV, or the XML export of EDT/UDT for STS) or the STS-Web "
        "structure export (sts_emp_….xml) into one establishment, as the import page's job does: "
        "all or nothing, every refused line reported."
    )

    def add_arguments(self, parser):
        parser.add_argument("uai")
        parser.add_argument("file")
        parser.add_argument(
            "--format",
            choices=sorted(imports.IMPORTERS),
            default="",
            help="csv, sts (STS-Web structure) or edt (EDT/UDT timetable); recognised when omitted",
        )

    def run(self, uai, file, format="", dry_run=False, **options):
        establishment = get_establishment(uai)
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise OpsError(f"{file} : lecture impossible ({exc.strerror})") from None
        report = {
            "uai": establishment.uai,
            "file": file,
            **imports.run(establishment, data, format, dry_run=dry_run),
        }
        if report["refused"]:
            raise OpsError(
                f"import refusé : {len(report['refused'])} ligne(s) refusée(s), rien n'a été importé",
                report["refused"],
                {k: v for k, v in report.items() if k != "refused"},
            )
        return report

    def render(self, result: dict) -> str:
        head = f"Import {result['format']} de {result['uai']} ({result['file']})"
        if result["dry_run"]:
            head += " — SIMULATION, rien n'a été modifié"
        return "\n".join(
            [head, *(f"  {line}" for line in imports.lines(result) or ["rien à importer"])]
        )
