"""patch: rolling OS security updates, one host at a time."""

from __future__ import annotations

import argparse

from .. import console as ui
from ..errors import OpsError
from ._common import Commands, add_command, load


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    patch = add_command(
        commands,
        common,
        "patch",
        "rolling OS updates, one host at a time: services restarted as needrestart says, "
        "a reboot when one is required, health and declared state checked between hosts",
    )
    patch.add_argument("--limit", metavar="HOSTS", help="hosts or groups, comma-separated")
    reboot = patch.add_mutually_exclusive_group()
    reboot.add_argument(
        "--reboot",
        dest="reboot",
        action="store_const",
        const="always",
        default="auto",
        help="reboot every host after its update (default: only the hosts that need it: a "
        "newer kernel or library waiting, /run/reboot-required); an app host is out of the "
        "load balancer meanwhile",
    )
    reboot.add_argument(
        "--no-reboot",
        dest="reboot",
        action="store_const",
        const="never",
        help="never reboot; the summary says which hosts need one",
    )
    patch.add_argument(
        "--allow-downtime",
        action="store_true",
        help="also reboot hosts no other host stands in for (the load balancer, the "
        "database): the ENT stops meanwhile, so only in a maintenance window; without it, "
        "--reboot of such a host is refused before anything starts and a required reboot is "
        "left to the operator",
    )
    patch.add_argument(
        "--to",
        metavar="CODENAME",
        help="move the hosts to the next Debian release (trixie: Debian 12 to 13), one at a "
        "time: the sources, `apt-get upgrade --without-new-pkgs` then `full-upgrade`, the "
        "release an app host serves installed again for the new Python, a reboot, a converge "
        "of the host, health and declared state before the next; every host reboots, so the "
        "lb and db hosts need --allow-downtime. PostgreSQL keeps its major (`db upgrade` "
        "moves it afterwards). Move the backup and db hosts in the same window: pgBackRest "
        "needs the same version on both",
    )
    patch.set_defaults(handler=cmd_patch)


def cmd_patch(args: argparse.Namespace) -> int:
    from .. import release

    inv = load(args)
    summary = ui.Summary("patch" + (f" --to {args.to}" if args.to else ""))
    if args.to:
        if args.reboot != "auto":
            raise OpsError("--to reboots every host: --reboot and --no-reboot do not apply")
        with ui.step(f"Moving to Debian {args.to}", summary) as progress:
            done = release.move(inv, args.to, args.limit, progress, args.allow_downtime)
    else:
        with ui.step("Rolling OS updates", summary) as progress:
            done = release.patch(inv, args.limit, progress, args.reboot, args.allow_downtime)
    for host, note in done.items():
        summary.add(host, "ok", note)
    summary.show()
    return 0
