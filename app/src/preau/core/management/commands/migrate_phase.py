from django.core.management import call_command

from preau.core import migration_phases
from preau.core.management.base import OpsCommand


class Command(OpsCommand):
    help = (
        "Apply the migrations of one phase of a rolling release: `expand` (before the app "
        "hosts switch: every pending migration up to the first one marked contract = True), "
        "`contract` (after every host runs the new code: the rest), or `plan` (list both)."
    )

    def add_arguments(self, parser):
        parser.add_argument("phase", choices=["expand", "contract", "plan"])

    def run(self, phase, dry_run=False, **_):
        expand, contract = migration_phases.pending()
        result = {
            "phase": phase,
            "expand": migration_phases.labels(expand),
            "contract": migration_phases.labels(contract),
            "applied": [],
        }
        if phase == "plan" or dry_run:
            return result
        if phase == "expand":
            for app_label, name in migration_phases.targets(expand):
                call_command("migrate", app_label, name, interactive=False, verbosity=0)
            result["applied"] = result["expand"]
        else:
            call_command("migrate", interactive=False, verbosity=0)
            result["applied"] = result["expand"] + result["contract"]
        return result

    def render(self, result):
        if result["phase"] == "plan":
            return (
                f"expand : {', '.join(result['expand']) or 'rien'}\n"
                f"contract : {', '.join(result['contract']) or 'rien'}"
            )
        return f"migrations appliquées ({result['phase']}) : {', '.join(result['applied']) or 'aucune'}"
