"""What every command module shares: the inventory options, adding a command, loading the
inventory the options name, refusing an inventory other than the lab."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, TypeAlias

from .. import console as ui
from ..errors import OpsError

if TYPE_CHECKING:
    from ..inventory import Inventory

# what add_subparsers() returns: where each module's register() adds its commands
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def inventory_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-i",
        "--inventory",
        metavar="INVENTORY",
        default=argparse.SUPPRESS,
        help="inventory directory or name under inventories/ (default: lab)",
    )
    common.add_argument(
        "--vault-password-file",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="file holding the ansible-vault password (or set "
        "PREAU_VAULT_PASSWORD_FILE; a prompt otherwise)",
    )
    return common


def add_command(
    commands: Commands,
    common: argparse.ArgumentParser,
    name: str,
    help_text: str,
    **kwargs: Any,
) -> argparse.ArgumentParser:
    """A top-level command: its help is also its description; it takes the inventory options."""
    return commands.add_parser(
        name, help=help_text, description=help_text, parents=[common], **kwargs
    )


def load(args: argparse.Namespace) -> Inventory:
    from .. import inventory

    command = getattr(args, "command", None) or ""
    action = getattr(args, f"{command}_command", None)  # pki init: dest="pki_command"
    return inventory.load(
        getattr(args, "inventory", None),
        getattr(args, "vault_password_file", None),
        running=f"{command} {action}" if isinstance(action, str) else command,
    )


def refuse_inventory(args: argparse.Namespace, what: str) -> None:
    if getattr(args, "inventory", None) not in (None, "lab", "inventories/lab"):
        raise OpsError(f"`{what}` works on the local lab only, not on -i {args.inventory}")


def confirmed(
    args: argparse.Namespace, question: str, expected: str, needed: OpsError, ignore_case: bool
) -> bool:
    """--yes, or the operator's answer at a terminal; without a terminal, `needed` is raised."""
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise needed
    answer = input(question).strip()
    if (answer.upper() == expected.upper()) if ignore_case else (answer == expected):
        return True
    ui.console.print("Not confirmed: nothing changed.")
    return False
