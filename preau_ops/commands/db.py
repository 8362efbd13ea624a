"""db upgrade: the database's major upgrade (Fabric driving pg_upgradecluster)."""

from __future__ import annotations

import argparse

from .. import console as ui
from ..errors import OpsError
from ._common import Commands, add_command, confirmed, load


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    db = add_command(commands, common, "db", "the database's major upgrade (pg_upgradecluster)")
    actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = actions.add_parser(
        "upgrade",
        parents=[common],
        help="move the db host's cluster to the inventory's postgresql_version (app in "
        "maintenance meanwhile: seconds to a minute or two)",
        description=(
            "Set postgresql_version (e.g. 17) in the inventory's group_vars/db/ and "
            "group_vars/backup/, with the db and backup hosts on a Debian release that has it "
            "(`deploy.py patch --to trixie`), then run this. It installs the new major beside "
            "the serving one, takes a full backup (the way back), puts the app in maintenance, "
            "runs `pg_upgradecluster -m upgrade --link` (the data files linked, not copied: "
            "seconds whatever the size), converges the db and backup hosts (the new major's "
            "configuration, pgBackRest's stanza-upgrade), ends the maintenance and takes a "
            "full backup of the new major. The old cluster stays, stopped, until "
            "`db upgrade --finish`. docs/upgrades.md says the way back."
        ),
    )
    upgrade.add_argument(
        "--finish",
        action="store_true",
        help="once the new major is accepted: drop the old cluster and purge its packages "
        "(the way back through the old cluster is gone afterwards)",
    )
    upgrade.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    upgrade.add_argument(
        "--json", action="store_true", help="the JSON document alone on stdout (progress on stderr)"
    )
    db.set_defaults(handler=cmd_db)


def cmd_db(args: argparse.Namespace) -> int:
    from ..procedures import database

    inv = load(args)
    what = "db upgrade --finish" if args.finish else "db upgrade"
    question = (
        "Drop the old PostgreSQL cluster for good? [yes/N] "
        if args.finish
        else "Upgrade the database's major, the app in maintenance meanwhile? [yes/N] "
    )
    needed = OpsError(f"confirmation needed: {what} changes the database host", "re-run with --yes")
    if not confirmed(args, question, "yes", needed, ignore_case=False):
        return 1
    summary = ui.Summary(what)
    run = database.finish if args.finish else database.upgrade
    with ui.progress_to_stderr(args.json), ui.step(what, summary) as progress:
        answer = run(inv, progress)
        progress.detail = _detail(answer)
    if args.json:
        ui.print_document(answer)
    else:
        summary.show()
    return 0


def _detail(answer: dict[str, object]) -> str:
    if "dropped" in answer:
        return f"{answer['host']}: dropped PostgreSQL {answer['dropped'] or 'nothing'}"
    if not answer.get("upgraded"):
        return f"{answer['host']}: already on PostgreSQL {answer['version']}"
    return (
        f"{answer['host']}: PostgreSQL {answer['from']} -> {answer['version']}, maintenance "
        f"{answer['maintenance_seconds']} s (pg_upgradecluster "
        f"{answer['pg_upgradecluster_seconds']} s); backups {answer['backup_before']} before, "
        f"{answer['backup_after']} after"
    )
