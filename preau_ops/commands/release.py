"""release and rollback: the app on the app hosts, one at a time, zero downtime (pyinfra)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .. import console as ui
from ._common import Commands, add_command, load

if TYPE_CHECKING:
    from ..inventory import Inventory
    from ..release import ReleaseReport


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    release = add_command(
        commands,
        common,
        "release",
        "ship the app to the app hosts, one at a time, zero downtime (pyinfra)",
    )
    release.add_argument(
        "--source",
        metavar="DIR",
        default=None,
        help="app source directory to ship (default: ./app); its version is "
        "derived from its content, so shipping the same code twice is a "
        "no-op",
    )
    release.add_argument(
        "--allow-contract",
        action="store_true",
        help="ship even if its migrations contract the schema (drop, rename, type change...): "
        "refused by default, since `rollback` to the release serving now is then refused and "
        "only a restore goes back; the refusal lists each migration and why",
    )
    release.set_defaults(handler=cmd_release)
    rollback = add_command(
        commands,
        common,
        "rollback",
        "every app host back to its previous release, one at a time",
    )
    rollback.set_defaults(handler=cmd_rollback)


def ship(
    inv: Inventory, source: str | None, summary: ui.Summary, allow_contract: bool = False
) -> ReleaseReport:
    """The release step, shared by `release` and `up`."""
    from pathlib import Path

    from .. import release

    with ui.step("Release (pyinfra)", summary) as progress:
        where = Path(source) if source else release.APP_DIR
        report = release.release(inv, where, progress, allow_contract)
        if report.switched:
            progress.detail = f"{report.version} on {', '.join(report.switched)}"
            progress.result = "changed"
        else:
            progress.detail = f"{report.version} already serving"
    return report


def cmd_release(args: argparse.Namespace) -> int:
    inv = load(args)
    summary = ui.Summary("release")
    ship(inv, args.source, summary, args.allow_contract)
    summary.show()
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from .. import release

    inv = load(args)
    summary = ui.Summary("rollback")
    with ui.step("Rollback", summary) as progress:
        done = release.rollback(inv, progress)
        progress.detail = ", ".join(f"{host} → {version}" for host, version in done.items())
    summary.show()
    return 0
