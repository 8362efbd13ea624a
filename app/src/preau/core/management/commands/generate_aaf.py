from preau.core.generator import generate, generate_delta
from preau.core.management.base import OpsCommand, OpsError
from preau.core.uai import normalize, uai_error


class Command(OpsCommand):
    help = (
        "Generate realistic fake complete AAF files (EtabEducNat, Eleve, PersRelEleve, "
        "PersEducNat), or with --delta-changes N a delivery of N changes to such a feed."
    )
    changes_data = False

    def add_arguments(self, parser):
        parser.add_argument("--students", type=int, required=True)
        parser.add_argument("--out", required=True, help="output directory (created)")
        parser.add_argument("--uai", default="0820021C")
        parser.add_argument("--name", default="Collège Jean Moulin")
        parser.add_argument("--town", default="Montauban")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--delta-changes",
            type=int,
            default=0,
            help="instead: a delta delivery of N changes to the feed of --students and --uai "
            "(pupils moved, parents' e-mails, pupils added and removed)",
        )

    def run(self, students, out, uai, name, town, seed, delta_changes=0, **options):
        uai = normalize(uai)
        if uai_error(uai):
            raise OpsError(uai_error(uai))
        if students < 1:
            raise OpsError("--students doit être au moins 1")
        if delta_changes < 0:
            raise OpsError("--delta-changes doit être positif")
        if delta_changes:
            try:
                return generate_delta(out, students, delta_changes, uai=uai)
            except ValueError as exc:
                raise OpsError(str(exc)) from None
        return generate(out, students, uai=uai, name=name, town=town, seed=seed)

    def render(self, result):
        if "changes" in result:
            return f"Delta AAF de {result['uai']} : {result['changes']} changements\n" + "\n".join(
                result["files"]
            )
        c = result["counts"]
        return (
            f"Flux AAF de {result['uai']} : {c['students']} élèves, {c['parents']} responsables, "
            f"{c['staff']} personnels, {c['classes']} classes\n" + "\n".join(result["files"])
        )
