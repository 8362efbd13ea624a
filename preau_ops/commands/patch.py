"""patch: rolling OS security updates, one host at a time."""

from __future__ import annotations

import argparse

from .. import console as ui
from ._common import Commands, add_command, load


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    patch = add_command(
        commands,
        common,
        "patch",
        "rolling OS security updates, one host at a time, services "
        "restarted as needrestart says, health checks between hosts",
    )
    patch.add_argument("--limit", metavar="HOSTS", help="hosts or groups, comma-separated")
    patch.set_defaults(handler=cmd_patch)


def cmd_patch(args: argparse.Namespace) -> int:
    from .. import release

    inv = load(args)
    summary = ui.Summary("patch")
    with ui.step("Rolling OS updates", summary) as progress:
        done = release.patch(inv, args.limit, progress)
    for host, note in done.items():
        summary.add(host, "ok", note)
    summary.show()
    return 0
