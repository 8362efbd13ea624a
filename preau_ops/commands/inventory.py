"""inventory: check or show an inventory."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .. import console as ui
from ._common import Commands, add_command, load

if TYPE_CHECKING:
    from ..inventory import Inventory


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    inventory = add_command(
        commands, common, "inventory", "check or show an inventory (hosts, groups, variables)"
    )
    inventory.add_argument(
        "action",
        choices=("check", "show"),
        help="check: validate only; show: hosts and groups as tools see them",
    )
    inventory.add_argument(
        "--json",
        action="store_true",
        help="one JSON document alone on stdout (check and show alike): hosts (addresses, "
        "user, groups) and groups; no variable, so no secret",
    )
    inventory.set_defaults(handler=cmd_inventory)


def cmd_inventory(args: argparse.Namespace) -> int:
    inv = load(args)
    if args.json:
        ui.print_document(document(inv))
        return 0
    if args.action == "check":
        ui.console.print(
            f"[green]✓[/] inventory {inv.name} is valid: {len(inv.hosts)} hosts, "
            f"groups {', '.join(sorted(inv.groups))}"
        )
        return 0
    from rich.table import Table

    table = Table(title=f"Inventory {inv.name}", title_justify="left")
    for column in ("host", "address", "user", "groups"):
        table.add_column(column)
    for host in inv.hosts.values():
        table.add_row(host.name, host.address, host.user, ", ".join(host.groups))
    ui.console.print(table)
    return 0


def document(inv: Inventory) -> dict[str, Any]:
    """`inventory check|show --json` (docs/contracts.md): the hosts as the tools reach them
    and the groups, of an inventory found valid (an invalid one is an error, exit 1)."""
    answer: dict[str, Any] = {"inventory": inv.name, "path": str(inv.path), "valid": True}
    answer["hosts"] = [
        {
            "name": host.name,
            "address": host.address,
            "private_address": host.private_address,
            "port": host.port,
            "user": host.user,
            "groups": host.groups,
        }
        for host in inv.hosts.values()
    ]
    answer["groups"] = dict(sorted(inv.groups.items()))
    return answer
