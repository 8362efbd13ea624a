"""status: every host, service, release, backup and alert at a glance."""

from __future__ import annotations

import argparse

from .. import console as ui
from ._common import Commands, add_command, load


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    status = add_command(
        commands,
        common,
        "status",
        "health of every host, service, release, backup and alert at a glance",
    )
    status.add_argument(
        "--json",
        action="store_true",
        help="the same facts as one JSON document alone on stdout (docs/contracts.md); "
        "same exit code",
    )
    status.set_defaults(handler=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    from .. import status

    inv = load(args)
    if not args.json:
        return status.show(inv, ui.console)
    with ui.progress_to_stderr():
        report = status.collect(inv)
    ui.print_document(status.document(inv, report))
    return 1 if status.needs_attention(report) else 0
