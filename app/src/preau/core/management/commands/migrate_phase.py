import sys
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from preau.core import migration_locks, migration_phases
from preau.core.management.base import OpsCommand, OpsError

PHASES = ["expand", "contract", "plan", "known", "rollback-check"]


class Command(OpsCommand):
    help = (
        "Migrations of a rolling release. `plan`: the pending migrations, each with its phase "
        "and why (classified from its operations); `expand` (before the app hosts switch: every "
        "pending migration up to the first contract one) and `contract` (after every host runs "
        "the new code: the rest), with lock_timeout/statement_timeout and retries on lock "
        "timeouts; `known`: every migration this code has; `rollback-check --known LABELS`: "
        "refused when a migration applied here that an earlier release does not know contracted "
        "the schema (LABELS: a file or `-` holding that release's `migrate_phase known --json` "
        "or `showmigrations --plan`, or labels separated by commas)."
    )

    def add_arguments(self, parser):
        parser.add_argument("phase", choices=PHASES)
        parser.add_argument(
            "--known",
            dest="known_from",
            metavar="FILE_OR_LIST",
            help="rollback-check: the migrations the target release knows (file, - or list)",
        )

    def run(self, phase, dry_run=False, known_from=None, **_):
        if phase == "known":
            return {"phase": phase, "known": migration_phases.known()}
        if phase == "rollback-check":
            return rollback_check(known_from)
        plan, verdicts = migration_phases.classified()
        expand, contract = migration_phases.cut(plan, verdicts)
        result = {
            "phase": phase,
            "expand": migration_phases.labels(expand),
            "contract": migration_phases.labels(contract),
            "applied": [],
            "migrations": migration_phases.details(plan, verdicts),
            "timeouts": dict(settings.PREAU_MIGRATIONS),
            "attempts": [],
        }
        if phase == "plan" or dry_run:
            return result
        steps = migration_phases.targets(expand) if phase == "expand" else [("", "")]
        apply(steps, result)
        result["applied"] = result["expand"] + (result["contract"] if phase == "contract" else [])
        return result

    def render(self, result):
        if result["phase"] == "known":
            return "\n".join(result["known"])
        if result["phase"] == "rollback-check":
            return render_unknown(result) + "retour arrière possible : aucune migration contract"
        if result["phase"] == "plan":
            return "\n".join(
                [f"{m['phase']} : {m['migration']} ({m['why']})" for m in result["migrations"]]
                or ["aucune migration en attente"]
            )
        return f"migrations appliquées ({result['phase']}) : {', '.join(result['applied']) or 'aucune'}"


def apply(steps: list[tuple[str, str]], result: dict) -> None:
    """`migrate APP NAME` for each step (all: `migrate`), each retried on lock timeouts."""
    for app_label, name in steps:
        args = ("migrate", app_label, name) if app_label else ("migrate",)
        step = partial(call_command, *args, interactive=False, verbosity=0)
        try:
            result["attempts"] += migration_locks.with_retries(
                step, f"{app_label}.{name}" if app_label else "toutes"
            )
        except migration_locks.LockTimeout as exc:
            result["attempts"] += exc.attempts
            raise lock_error(result) from exc


def lock_error(result: dict) -> OpsError:
    """Every attempt timed out on a lock: what was applied, which migration stopped, why."""
    done = migration_phases.applied_labels()
    wanted = result["expand"] + (result["contract"] if result["phase"] == "contract" else [])
    applied = [label for label in wanted if label in done]
    failed = next((label for label in wanted if label not in done), "?")
    attempts = result["attempts"]
    message = (
        f"migration {failed} arrêtée : verrou non obtenu en "
        f"{result['timeouts']['lock_timeout_ms']} ms (lock_timeout) à chacune des "
        f"{len([a for a in attempts if a['target'] == attempts[-1]['target']])} tentatives ; "
        f"une transaction longue tient la table (voir pg_stat_activity). {failed} n'a rien "
        f"modifié (annulée) ; déjà appliquées : {', '.join(applied) or 'aucune'}. "
        f"Relancer `migrate_phase {result['phase']}` une fois la transaction finie."
    )
    details = {**result, "applied": applied, "failed": failed}
    return OpsError(message, [attempt for attempt in attempts if not attempt["ok"]], details)


def read_known(known_from: str | None) -> set[str]:
    if not known_from:
        raise OpsError(
            "rollback-check : --known est requis (la sortie de `migrate_phase known --json` de "
            "la version cible, dans un fichier ou sur l'entrée standard avec -)"
        )
    if known_from == "-":
        text = sys.stdin.read()
    elif Path(known_from).is_file():
        text = Path(known_from).read_text(encoding="utf-8")
    else:
        text = known_from
    return migration_phases.parse_known(text)


def rollback_check(known_from: str | None) -> dict:
    target = read_known(known_from)
    if not target & migration_phases.applied_labels():
        raise OpsError(
            f"rollback-check : --known ({len(target)} migration(s)) ne contient aucune "
            "migration appliquée à cette base : ce n'est pas la liste d'une version de Préau, "
            "rien n'a été vérifié"
        )
    result = {
        "phase": "rollback-check",
        "rollback": "ok",
        **migration_phases.rollback_check(target),
    }
    if result["contract"]:
        refused = [row for row in result["unknown"] if row["phase"] == "contract"]
        raise OpsError(
            refusal(refused, result["restore_to"]), refused, {**result, "rollback": "refused"}
        )
    return result


def refusal(refused: list[dict], restore_to: str | None) -> str:
    listed = " ; ".join(f"{row['migration']} ({row['why']})" for row in refused)
    restore = (
        f"deploy.py backup restore --to {restore_to} (la base telle qu'avant la première de "
        "ces migrations ; une migration non atomique a pu commencer plus tôt : prendre alors "
        "l'heure de début de la release, dans le journal des opérations)"
        if restore_to
        else "deploy.py backup restore --to HEURE, une heure antérieure à la release qui les a appliquées"
    )
    return (
        f"retour arrière refusé : la base a été contractée depuis la version cible, dont le code "
        f"ne fonctionnerait plus : {listed}. Pour revenir quand même à cette version, restaurer "
        f"la base à un instant antérieur (les écritures faites depuis seront perdues) : {restore}"
    )


def render_unknown(result: dict) -> str:
    return "".join(
        f"inconnue de la version cible : {row['migration']} ({row['phase']} : {row['why']})\n"
        for row in result["unknown"]
    )
