"""backup now, list, verify, drill, restore, copy: backups and restores (Fabric driving
pgBackRest/borgmatic)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

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
    bk_list = actions.add_parser(
        "list",
        help="backups (label, type, when, age, size) and the point-in-time recovery window",
        parents=[common],
    )
    bk_verify = actions.add_parser(
        "verify", help="pgBackRest check + verify, borgmatic check", parents=[common]
    )
    bk_drill = actions.add_parser(
        "drill",
        help="restore the latest backup into a scratch cluster, check it, report the RTO",
        parents=[common],
    )
    for parser in (bk_list, bk_verify, bk_drill):
        parser.add_argument(
            "--json",
            action="store_true",
            help="the JSON document alone on stdout (progress on stderr)",
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
    bk_copy = actions.add_parser(
        "copy",
        parents=[common],
        help="load a backup into the copy database beside the live one (which stays untouched)",
        description=(
            "The database as backup LABEL left it, loaded into the db host's copy database "
            "(role postgresql's postgresql_copy_database, preau_copy), replacing the previous "
            "copy: what `establishment unmerge` and `establishment rentree --rehearse` read. "
            "It holds personal data: drop it when done (--drop)."
        ),
    )
    which = bk_copy.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--label", help="the backup (`deploy.py backup list`), e.g. 20261206-101500F"
    )
    which.add_argument("--drop", action="store_true", help="remove the copy database")


def cmd_backup(args: argparse.Namespace) -> int:
    inv = load(args)
    summary = ui.Summary(f"backup {args.backup_command}")
    if args.backup_command == "restore":
        return _restore(args, inv, summary)
    if args.backup_command == "now":
        return _now(args, inv, summary)
    if args.backup_command == "list":
        return _list(args, inv)
    if args.backup_command == "copy":
        return _copy(args, inv, summary)
    return _check(args, inv, summary)


def _copy(args: argparse.Namespace, inv: Inventory, summary: ui.Summary) -> int:
    from ..procedures import backups, operation

    what = "backup copy --drop" if args.drop else f"backup copy --label {args.label}"
    with ui.step(what, summary) as progress, operation(inv, what) as (_, _, record):
        if args.drop:
            answer = backups.drop_copy(inv)
            progress.detail = record.detail = f"{answer['host']}: {answer['database']} dropped"
        else:
            answer = backups.copy(inv, args.label, progress)
            progress.detail = record.detail = (
                f"{answer['host']}: {answer['database']} = backup {answer['backup']} "
                f"({ui.size(answer['size_bytes'])} dump, {answer['duration_seconds']} s)"
            )
    summary.show()
    return 0


def _now(args: argparse.Namespace, inv: Inventory, summary: ui.Summary) -> int:
    from ..procedures import backups

    with ui.step("backup now", summary) as progress:
        progress.detail = f"label {backups.now(inv, args.kind).get('label')}"
    summary.show()
    return 0


def _list(args: argparse.Namespace, inv: Inventory) -> int:
    """The table and the recovery window on stdout, nothing else (progress on stderr)."""
    from ..procedures import backups

    with ui.progress_to_stderr(), ui.step("backup list"):
        answer = backups.listing(inv)
    if args.json:
        ui.print_document(answer)
    else:
        print_listing(answer)
    return 0


def print_listing(answer: dict[str, Any]) -> None:
    """`backup list` for people: one row per database backup, then what can be recovered."""
    from rich.table import Table

    table = Table(title="Database backups (pgBackRest)", title_justify="left")
    for column in ("label", "type", "stopped at", "age", "size", "stored"):
        table.add_column(column, justify="right" if column in ("age", "size", "stored") else "left")
    for backup in answer.get("database", []):
        table.add_row(
            backup["label"],
            backup.get("type", "?"),
            backup.get("stopped_at", "?"),
            ui.age(backup["age_seconds"]) if "age_seconds" in backup else "?",
            ui.size(backup.get("size_bytes")),
            ui.size(backup.get("repository_bytes")),
        )
    ui.console.print(table)
    window = answer.get("pitr_window")
    ui.console.print(
        f"Recovery window: from {window['from']} to the {window['to']}"
        if window
        else "Recovery window: none (no database backup yet: `deploy.py backup now`)"
    )
    if answer.get("status") not in (None, "ok"):
        ui.console.print(f"pgBackRest says: {answer['status']}", markup=False)
    files = answer.get("files")
    if files:
        ui.console.print(f"Files (borgmatic): {len(files)} archive(s), latest {files[-1]}")


def _check(args: argparse.Namespace, inv: Inventory, summary: ui.Summary) -> int:
    """verify and drill: one summary row per check; with --json, the JSON alone on stdout."""
    from ..procedures import backups

    action = {"verify": backups.verify, "drill": backups.drill}[args.backup_command]
    with ui.progress_to_stderr(args.json):
        with ui.step(f"backup {args.backup_command}", summary) as progress:
            answer = action(inv)
            progress.detail = _check_detail(answer)
        for what, ok, detail in check_rows(answer):
            summary.add(what, "ok" if ok else "failed", detail)
        summary.show()
    if args.json:
        ui.print_document(answer)
    return 1 if summary.failed else 0


def _check_detail(answer: dict[str, Any]) -> str:
    if answer.get("command") != "drill":
        return "every check passed" if answer.get("ok") else "a check failed"
    rto = answer.get("rto_seconds")
    return f"backup {answer.get('backup', '?')} restored, RTO {rto} s" + (
        f" (whole drill {answer['duration_seconds']} s)" if "duration_seconds" in answer else ""
    )


def check_rows(answer: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """(what was checked, passed, detail) from preau-backup's verify or drill answer."""
    checks = answer.get("checks") or {}
    if isinstance(checks, dict):  # verify: {"pgbackrest check": true, ...}
        return [(name, bool(ok), "") for name, ok in checks.items()]
    return [  # drill: [{"name", "ok", "value"}, ...]
        (f"check {c.get('name')}", bool(c.get("ok")), f"value {c.get('value')}") for c in checks
    ]


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
