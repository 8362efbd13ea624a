"""backup now, list, verify, drill, restore: backups and restores (Fabric driving
pgBackRest/borgmatic)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .. import console as ui
from ..errors import OpsError
from ._common import Commands, add_command, confirmed, load

if TYPE_CHECKING:
    from ..inventory import Inventory


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    backup = add_command(
        commands, common, "backup", "backups and restores (Fabric driving pgBackRest/borgmatic)"
    )
    backup.set_defaults(handler=cmd_backup)
    actions = backup.add_subparsers(dest="backup_command", metavar="ACTION", required=True)
    bk_now = actions.add_parser("now", help="take a database backup now", parents=[common])
    bk_now.add_argument("--kind", choices=("full", "diff", "incr"), default="full")
    actions.add_parser(
        "list", help="backups with age and size, and the PITR window", parents=[common]
    )
    actions.add_parser(
        "verify", help="pgBackRest check + verify, borgmatic check", parents=[common]
    )
    actions.add_parser(
        "drill",
        help="restore the latest backup into a scratch cluster, check it, report the RTO",
        parents=[common],
    )
    bk_restore = actions.add_parser(
        "restore",
        parents=[common],
        help="point-in-time restore of the database IN PLACE (app in maintenance meanwhile)",
    )
    bk_restore.add_argument(
        "--to",
        required=True,
        metavar="TIME",
        help="ISO time with zone, e.g. 2026-11-29T10:42:00+01:00",
    )
    bk_restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def cmd_backup(args: argparse.Namespace) -> int:
    import json

    from ..procedures import backups

    inv = load(args)
    summary = ui.Summary(f"backup {args.backup_command}")
    if args.backup_command == "restore":
        return _restore(args, inv, summary)
    action = {
        "now": lambda: backups.now(inv, args.kind),
        "list": lambda: backups.listing(inv),
        "verify": lambda: backups.verify(inv),
        "drill": lambda: backups.drill(inv),
    }
    with ui.step(f"backup {args.backup_command}", summary) as progress:
        answer = action[args.backup_command]()
        progress.detail = {
            "now": lambda a: f"label {a.get('label')}",
            "drill": lambda a: f"RTO {a.get('rto_seconds')} s",
        }.get(args.backup_command, lambda a: "ok")(answer)
    if args.backup_command in ("list", "verify", "drill"):
        ui.console.print_json(json.dumps(answer))
    summary.show()
    return 0


def _restore(args: argparse.Namespace, inv: Inventory, summary: ui.Summary) -> int:
    from ..procedures import backups

    needed = OpsError(
        "confirmation needed: a restore replaces the live database", "re-run with --yes"
    )
    question = f"Replace the live database with its state at {args.to}? [yes/N] "
    if not confirmed(args, question, "yes", needed, ignore_case=False):
        return 1
    with ui.step(f"Point-in-time restore to {args.to}", summary) as progress:
        result = backups.restore(inv, args.to, progress)
        progress.detail = f"RTO {result['rto_seconds']} s"
    summary.show()
    return 0
