"""bootstrap: hosts as the provider hands them over (root only) to the deploy account, its
keys and sudo, host keys pinned, then root and password logins off — never a lockout."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import TYPE_CHECKING

from .. import console as ui
from ..errors import OpsError
from ._common import Commands, add_command, load

if TYPE_CHECKING:
    from ..bootstrap import Outcome, RootAccess
    from ..inventory import Inventory

RESULTS = {"bootstrapped": "changed", "already": "ok", "failed": "failed"}


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    bootstrap = add_command(
        commands,
        common,
        "bootstrap",
        "from root-only hosts to the deploy account: admin accounts, keys and sudo, host "
        "keys pinned, then root and password logins off once the new way in works",
    )
    bootstrap.add_argument("--limit", metavar="HOSTS", help="hosts or groups, comma-separated")
    bootstrap.add_argument(
        "--ask-root-password",
        action="store_true",
        help="root logs in with a password (where the provider enabled it): asked once on "
        "the terminal, never shown",
    )
    bootstrap.add_argument(
        "--root-key",
        metavar="FILE",
        help="root's private key (default: the inventory's ansible_ssh_private_key_file)",
    )
    bootstrap.add_argument("--json", action="store_true", help="machine-readable output")
    bootstrap.set_defaults(handler=cmd_bootstrap)


def _root_password() -> str:
    if not sys.stdin.isatty():
        raise OpsError(
            "--ask-root-password needs a terminal", "run bootstrap from an interactive shell"
        )
    password = getpass.getpass("root's password on the new hosts (not shown): ")
    if not password:
        raise OpsError("no root password given", "nothing was done")
    return password


class _Quiet:
    def update(self, text: str) -> None:
        """--json: no progress on the terminal."""


def step(
    inv: Inventory, summary: ui.Summary | None, access: RootAccess, limit: str | None = None
) -> list[Outcome]:
    """Bootstrap as one step of a command (the lab's `up` runs it too)."""
    from .. import bootstrap

    with ui.step(f"Bootstrap {inv.name} (root -> admin accounts)", summary) as progress:
        outcomes = bootstrap.run(inv, limit, access, progress)
        counts = {r: sum(o.result == r for o in outcomes) for r in RESULTS}
        progress.detail = ", ".join(f"{n} {r}" for r, n in counts.items() if n)
        if counts["bootstrapped"]:
            progress.result = "changed"
        if counts["failed"]:
            progress.result = "failed"
    return outcomes


def lab_step(summary: ui.Summary) -> None:
    """The lab's hosts start as a provider hands servers over (root's key only): `lab up`
    bootstraps them like real ones, with the lab key as root's; a failure stops `up`."""
    from .. import inventory
    from ..bootstrap import RootAccess

    failed = [o for o in step(inventory.load(None), summary, RootAccess()) if o.result == "failed"]
    if failed:
        raise OpsError(
            "bootstrap failed: " + "; ".join(f"{o.host}: {o.detail}" for o in failed),
            "`./deploy.py bootstrap` again shows where each host stands",
        )


def _print(outcomes: list[Outcome]) -> None:
    from rich.table import Table

    table = Table(title="Host keys (pinned: compare with the provider's console)")
    for column in ("host", "ed25519 fingerprint", "pinned"):
        table.add_column(column)
    for o in outcomes:
        table.add_row(o.host, o.fingerprint, "now" if o.pinned_now else "before")
    ui.console.print(table)
    summary = ui.Summary("bootstrap")
    for o in outcomes:
        summary.add(o.host, RESULTS[o.result], o.detail)
    summary.show()


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from .. import system
    from ..bootstrap import RootAccess, run

    inv = load(args)
    password = _root_password() if args.ask_root_password else None
    system.ensure(["openssh-client", *(["sshpass"] if password else [])], "bootstrap")
    access = RootAccess(args.root_key, password)
    if args.json:
        outcomes = run(inv, args.limit, access, _Quiet())
        print(json.dumps({"hosts": [o.as_dict() for o in outcomes]}, indent=2))
    else:
        outcomes = step(inv, None, access, args.limit)
        _print(outcomes)
    return 1 if any(o.result == "failed" for o in outcomes) else 0
