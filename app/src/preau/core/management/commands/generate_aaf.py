from preau.core.generator import generate
from preau.core.management.base import OpsCommand, OpsError
from preau.core.uai import normalize, uai_error


class Command(OpsCommand):
    help = "Generate realistic fake complete AAF files (EtabEducNat, Eleve, PersRelEleve, PersEducNat)."
    changes_data = False

    def add_arguments(self, parser):
        parser.add_argument("--students", type=int, required=True)
        parser.add_argument("--out", required=True, help="output directory (created)")
        parser.add_argument("--uai", default="0820021C")
        parser.add_argument("--name", default="Collège Jean Moulin")
        parser.add_argument("--town", default="Montauban")
        parser.add_argument("--seed", type=int, default=1)

    def run(self, students, out, uai, name, town, seed, **options):
        uai = normalize(uai)
        if uai_error(uai):
            raise OpsError(uai_error(uai))
        if students < 1:
            raise OpsError("--students doit être au moins 1")
        return generate(out, students, uai=uai, name=name, town=town, seed=seed)

    def render(self, result):
        c = result["counts"]
        return (
            f"Flux AAF de {result['uai']} : {c['students']} élèves, {c['parents']} responsables, "
            f"{c['staff']} personnels, {c['classes']} classes\n" + "\n".join(result["files"])
        )
