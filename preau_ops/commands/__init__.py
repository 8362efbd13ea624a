"""deploy.py's commands. Each takes -i INVENTORY (default: the lab), shows progress, ends
with a summary, and exits non-zero on failure or when a precondition does not hold.

One module per verb group; each has `register(commands, common)`, which adds its parsers
(with their help) and names each one's handler."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .. import console as ui
from ..errors import OpsError
from . import (
    audit,
    backup,
    bench,
    bootstrap,
    converge,
    db,
    establishment,
    inventory,
    lab,
    operations,
    patch,
    pki,
    release,
    status,
    test,
    vault,
)
from ._common import inventory_options

DESCRIPTION = """\
Préau operations: host, maintain and audit the ENT of the département's collèges.

With no -i, every command works on the local lab (Debian 12 hosts in Docker containers).
Start with `./deploy.py up`, which builds the lab and deploys the whole stack on it.
"""

EPILOG = """\
examples:
  ./deploy.py up                          lab + whole stack, prints URLs and demo logins
  ./deploy.py lab status                  the lab's hosts, addresses and state
  ./deploy.py converge --check            what would change (drift), changes nothing
  ./deploy.py -i inventories/production converge --limit db --tags postgresql
  ./deploy.py test                        the project's tests (what CI runs)
"""

# in the order `deploy.py --help` lists their commands
GROUPS = (
    lab,
    inventory,
    bootstrap,
    converge,
    release,
    status,
    audit,
    patch,
    establishment,
    backup,
    db,
    operations,
    pki,
    vault,
    bench,
    test,
)

Handler = Callable[[argparse.Namespace], int | None]


def build_parser() -> argparse.ArgumentParser:
    common = inventory_options()
    parser = argparse.ArgumentParser(
        prog="deploy.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.register(commands, common)
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args) or 0
    except OpsError as exc:
        with ui.progress_to_stderr(getattr(args, "json", False)):  # --json: stdout holds
            ui.console.print(f"[bold red]error:[/] {exc.message}")  # the document or nothing
            if exc.hint:
                ui.console.print(f"[dim]hint:[/] {exc.hint}")
        return 1
    except KeyboardInterrupt:
        ui.console.print("[red]interrupted[/]")
        return 130
