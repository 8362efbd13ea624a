"""operations: the platform's operations log (verified) and its lock."""

from __future__ import annotations

import argparse
import json

from .. import console as ui
from ..errors import OpsError
from ._common import Commands, add_command, confirmed, load

LOG_HELP = """\
The ops host's log, the copy the audit checks, its chain verified first (an edited or
deleted line names itself and exits 1); entries still waiting on this controller are
listed after it as "pending"."""

UNLOCK_HELP = """\
Break the platform lock of an operation that died (its controller crashed, its SSH
session was cut). It says whose lock it was and records that it broke it."""


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    operations = add_command(
        commands,
        common,
        "operations",
        "the operations log (who changed what, when, with what outcome) and the platform lock",
    )
    actions = operations.add_subparsers(dest="operations_command", metavar="ACTION", required=True)
    log = actions.add_parser("log", parents=[common], help="the verified log", description=LOG_HELP)
    log.add_argument("-n", type=int, default=20, metavar="N", help="last N entries (default 20)")
    log.add_argument("--json", action="store_true", help="every entry as JSON, verified")
    unlock = actions.add_parser(
        "unlock", parents=[common], help="break a dead operation's lock", description=UNLOCK_HELP
    )
    unlock.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    operations.set_defaults(handler=cmd_operations)


def cmd_operations(args: argparse.Namespace) -> int:
    return _log(args) if args.operations_command == "log" else _unlock(args)


def _log(args: argparse.Namespace) -> int:
    from rich.table import Table

    from .. import operations

    inv = load(args)
    host = operations.ops_host(inv).name
    entries = operations.verify(operations.read_log(inv))
    waiting = operations.pending(operations.ops_host(inv))
    missing = operations.missing_here(entries, host)
    if missing:
        raise OpsError(
            f"the operations log on {host} no longer has {len(missing)} entr(y/ies) this "
            "controller appended: "
            + ", ".join(f"#{e['seq']} `{e['command']}` ({e['end']})" for e in missing[:5]),
            f"its tail was cut or changed: compare with {operations.LOCAL_LOG} here",
        )
    if args.json:
        print(json.dumps({"entries": entries, "pending": waiting}, ensure_ascii=False, indent=2))
        return 0
    table = Table(title=f"Operations on {inv.name} ({host}:{operations.REMOTE_LOG})")
    for column in ("#", "start", "operator", "command", "outcome", "s", "detail"):
        table.add_column(column, overflow="fold")
    colours = {"ok": "green", "failed": "red", "interrupted": "yellow"}
    rows = [(str(e["seq"]), e) for e in entries[-args.n :]] + [("pending", e) for e in waiting]
    for number, entry in rows:
        outcome = entry.get("outcome", "")
        table.add_row(
            number,
            entry.get("start", ""),
            entry.get("operator", ""),
            entry.get("command", ""),
            f"[{colours.get(outcome, 'white')}]{outcome}[/]",
            str(entry.get("seconds", "")),
            entry.get("detail", ""),
        )
    ui.console.print(table)
    ui.console.print(
        f"[green]chain intact[/]: {len(entries)} entries"
        + (f", {len(waiting)} pending here" if waiting else "")
    )
    return 0


def _unlock(args: argparse.Namespace) -> int:
    from .. import operations

    inv = load(args)
    current = operations.holder(inv)
    if current is None:
        ui.console.print("The platform is not locked.")
        return 0
    needed = OpsError(
        f"confirmation needed to break the lock: {operations.describe(current)}",
        "re-run with --yes once you know that operation is dead",
    )
    question = f"{operations.describe(current)}.\nBreak this lock? [yes/N] "
    if not confirmed(args, question, "yes", needed, ignore_case=False):
        return 1
    broken = operations.unlock(inv)
    ui.console.print(
        f"Lock broken ({operations.describe(broken)}), recorded in the operations log."
        if broken
        else "The platform is not locked (its operation ended meanwhile)."
    )
    return 0
