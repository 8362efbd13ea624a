"""inventory: check or show an inventory."""

from __future__ import annotations

import argparse

from .. import console as ui
from ._common import Commands, add_command, load


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    inventory = add_command(
        commands, common, "inventory", "check or show an inventory (hosts, groups, variables)"
    )
    inventory.add_argument(
        "action",
        choices=("check", "show"),
        help="check: validate only; show: hosts and groups as tools see them",
    )
    inventory.set_defaults(handler=cmd_inventory)


def cmd_inventory(args: argparse.Namespace) -> int:
    inv = load(args)
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
