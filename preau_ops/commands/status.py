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
    status.set_defaults(handler=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    from .. import status

    return status.show(load(args), ui.console)
