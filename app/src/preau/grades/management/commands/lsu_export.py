from pathlib import Path

from preau.core.management.base import OpsCommand, OpsError, get_establishment
from preau.grades import lsu
from preau.grades.models import Period


class Command(OpsCommand):
    help = (
        "The LSU export (livret scolaire unique) of one establishment's period, as its page's "
        "job makes it: the XML import file of the bilans périodiques (on stdout, or --output), "
        "or every missing item the LSU requires, and nothing written."
    )
    changes_data = False

    def add_arguments(self, parser):
        parser.add_argument("uai")
        parser.add_argument(
            "period", help="the period's id, or its name (« 1er trimestre ») in the latest year"
        )
        parser.add_argument("--output", default="", help="write the XML file there")

    def run(self, uai, period, output="", **options):
        est = get_establishment(uai)
        found = Period.objects.filter(establishment=est)
        found = (
            found.filter(pk=int(period)) if period.isdigit() else found.filter(name=period.strip())
        )
        chosen = found.order_by("-school_year").first()
        if chosen is None:
            raise OpsError(f"période « {period} » inconnue dans l'établissement {est.uai}")
        data = lsu.gather(est, chosen)
        summary = {"uai": est.uai, "period": chosen.name, "school_year": chosen.school_year}
        if data["problems"]:
            raise OpsError(
                f"export LSU refusé : {len(data['problems'])} élément(s) manquant(s), "
                "aucun fichier écrit",
                data["problems"],
                summary,
            )
        content = lsu.xml(data)
        if output:
            try:
                Path(output).write_bytes(content)
            except OSError as exc:
                raise OpsError(f"{output} : écriture impossible ({exc.strerror})") from None
        summary.update(pupils=len(data["bilans"]), output=output)
        if self.as_json:
            return {**summary, "data": data}
        return {**summary, "xml": "" if output else content.decode()}

    def render(self, result: dict) -> str:
        if not result["output"]:
            return result["xml"]
        return (
            f"Export LSU de {result['uai']} ({result['period']} {result['school_year']}) : "
            f"{result['pupils']} bilan(s) périodique(s) écrit(s) dans {result['output']}"
        )
