"""converge: hosts to what the roles declare (Ansible), or only the drift with --check."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .. import console as ui
from ._common import Commands, add_command, load

if TYPE_CHECKING:
    from ..converge import RunResult


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    converge = add_command(
        commands, common, "converge", "converge hosts to what the roles declare (Ansible)"
    )
    converge.add_argument(
        "--check", action="store_true", help="change nothing: report what would change (drift)"
    )
    converge.add_argument("--diff", action="store_true", help="show file differences")
    converge.add_argument("--limit", metavar="HOSTS", help="hosts or groups, comma-separated")
    converge.add_argument(
        "--tags", metavar="TAGS", help="only tasks with these tags (role names, ANSSI R-numbers…)"
    )
    converge.add_argument(
        "--json",
        action="store_true",
        help="one JSON document on stdout (per host: counts, changes, errors; seconds per "
        "role); progress on stderr",
    )
    converge.set_defaults(handler=cmd_converge)


def as_dict(result: RunResult, check: bool) -> dict[str, Any]:
    from ..converge import slowest_tasks

    return {
        "check": check,
        "failed": result.failed,
        "changed": result.changed,
        "duration": round(result.duration, 1),
        "roles": {role: round(seconds, 2) for role, seconds in result.roles.items()},
        "slowest_tasks": {task: round(seconds, 2) for task, seconds in slowest_tasks(result.tasks)},
        "hosts": {
            name: {
                "ok": host.ok,
                "changed": host.changed,
                "failed": host.failed,
                "unreachable": host.unreachable,
                "skipped": host.skipped,
                "duration": round(host.duration, 1),
                "changes": host.changes,
                "errors": host.errors,
            }
            for name, host in sorted(result.hosts.items())
        },
    }


def print_converge(result: RunResult) -> None:
    from rich.table import Table

    from .. import converge

    table = Table(title=f"Converge — {result.duration:.1f} s", title_justify="left")
    for column in ("host", "ok", "changed", "failed", "duration"):
        table.add_column(column)
    for name, host in sorted(result.hosts.items()):
        failed = "unreachable" if host.unreachable else str(host.failed)
        table.add_row(
            name,
            str(host.ok),
            str(host.changed),
            f"[red]{failed}[/]" if failed != "0" else "0",
            f"{host.duration:.1f} s",
        )
    ui.console.print(table)
    if result.roles:
        ui.console.print(f"Time per role: {converge.roles_line(result.roles)}")
        slowest = ", ".join(
            f"{task} {seconds:.1f} s" for task, seconds in converge.slowest_tasks(result.tasks, 5)
        )
        ui.console.print(f"Slowest tasks: {slowest}")
    for name, host in sorted(result.hosts.items()):
        for error in host.errors:
            ui.console.print(f"[red]{name}[/]: {error}")


def cmd_converge(args: argparse.Namespace) -> int:
    from .. import converge

    inv = load(args)
    if args.limit:
        inv.limited(args.limit)  # validates the pattern before anything runs
    with ui.progress_to_stderr(args.json):  # --json: stdout holds the document alone
        if not args.check:  # a clock far off breaks TLS and apt (converge sets the sync)
            from ..preconditions import refuse_bad_clocks_everywhere

            refuse_bad_clocks_everywhere(inv, inv.limited(args.limit), need_sync=False)
        title = "Checking drift" if args.check else "Converging"
        with ui.step(f"{title} {inv.name} ({len(inv.hosts)} hosts)") as progress:
            result = converge.run_playbook(
                inv,
                check=args.check,
                diff=args.diff,
                limit=args.limit,
                tags=args.tags,
                progress=progress,
            )
            if result.failed:
                progress.result, progress.detail = "failed", "see the errors below"
    if args.json:
        ui.print_document(as_dict(result, args.check))
        return 1 if result.failed else 0
    print_converge(result)
    if args.check:
        converge.print_drift(result)
        ui.console.print(
            "No drift."
            if not result.changed
            else f"[yellow]{result.changed} change(s) would be made.[/]"
        )
    return 1 if result.failed else 0
