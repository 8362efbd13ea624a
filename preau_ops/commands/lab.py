"""up, down and lab: the local lab (Docker containers acting as Debian hosts), and `up`'s
whole stack on it."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from .. import console as ui
from .. import monitoring_api
from ..errors import OpsError
from . import bootstrap
from ._common import Commands, add_command, refuse_inventory
from .converge import print_converge
from .release import ship

if TYPE_CHECKING:
    from ..inventory import Inventory
    from ..lab.hosts import LabHost

TOPOLOGY_HELP = (
    "single: one host in every group; standard (default): web=lb+app, db, "
    "ops=backup+monitoring; scaled: lb, app1, app2, db, ops; prodlike (production's shape): "
    "scaled's hosts behind a bastion, on a management and a private network"
)
TOPOLOGIES = ("single", "standard", "scaled", "prodlike")
IMAGES = ("baked", "bare", "trixie-bare")
IMAGE_HELP = (
    "host image: baked (Debian 12, heavy packages pre-installed, default), bare (Debian 12, "
    "nothing pre-installed) or trixie-bare (Debian 13, nothing pre-installed, every host with "
    "postgresql_version 17: a new installation on Debian 13, docs/upgrades.md)"
)


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    up = add_command(commands, common, "up", "bring up the lab and deploy the whole stack on it")
    up.add_argument("--topology", choices=TOPOLOGIES, default="standard", help=TOPOLOGY_HELP)
    up.add_argument("--image", choices=IMAGES, default="baked", help=IMAGE_HELP)
    up.set_defaults(handler=cmd_up)
    down = add_command(
        commands,
        common,
        "down",
        "remove the lab: containers, network, the Docker daemon it started",
    )
    down.set_defaults(handler=cmd_down)
    lab = add_command(
        commands, common, "lab", "the local lab hosts alone (Docker containers running systemd)"
    )
    lab.set_defaults(handler=cmd_lab)
    _register_actions(lab)


def _register_actions(lab: argparse.ArgumentParser) -> None:
    actions = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    lab_up = actions.add_parser(
        "up",
        help="create or repair the lab's hosts",
        description="create or repair the lab's hosts; running twice is harmless",
    )
    lab_up.add_argument("--topology", choices=TOPOLOGIES, default="standard", help=TOPOLOGY_HELP)
    lab_up.add_argument("--image", choices=IMAGES, default="baked", help=IMAGE_HELP)
    actions.add_parser("down", help="remove everything the lab created, nothing else")
    lab_status = actions.add_parser("status", help="hosts, groups, addresses and state")
    lab_status.add_argument("--json", action="store_true", help="one JSON document alone on stdout")
    lab_ssh = actions.add_parser("ssh", help="open a shell on a lab host")
    lab_ssh.add_argument("host", help="lab host name (see `lab status`)")
    lab_image = actions.add_parser("image", help="build the host images (cached)")
    lab_image.add_argument("--force", action="store_true", help="rebuild even if cached")
    lab_image.add_argument(
        "--release",
        choices=("bookworm", "trixie"),
        default="bookworm",
        help="Debian release: bookworm (the lab's, default: bare and baked) or trixie (Debian 13: "
        "preau-lab:trixie-bare, the image of the molecule platforms that prove a role on it)",
    )


def lab_up(args: argparse.Namespace, summary: ui.Summary) -> list[LabHost]:
    from ..lab import engine, hosts, image, secrets

    with ui.step("Docker engine", summary) as progress:
        client = engine.ensure(progress)
        progress.detail = "started by the lab" if engine.started_by_us() else "already running"
    with ui.step("Lab images", summary) as progress:
        if args.image == "trixie-bare":
            built = image.build_bare(client, progress, suite="trixie")
        else:
            built = image.build_bare(client, progress)
        if args.image == "baked":
            built = image.build_baked(client, progress) or built
        progress.detail = "built" if built else "cached"
        progress.result = "changed" if built else "ok"
    with ui.step(f"Lab hosts ({args.topology})", summary) as progress:
        lab_hosts = hosts.up(args.topology, args.image, progress)
        progress.detail = ", ".join(f"{h.name} {h.address}" for h in lab_hosts)
    with ui.step("Lab secrets (ansible-vault)", summary) as progress:
        added = secrets.ensure()
        progress.detail = f"{len(added)} generated" if added else "unchanged"
    with ui.step("Lab SMTP relay (the département's stand-in)", summary) as progress:
        from ..lab import relay

        progress.detail = f"{relay.up()}:{relay.PORT}, STARTTLS, account {relay.USER}"
    with ui.step(
        "Lab partners declared (ÉduConnect's, the académie's and the GAR's stand-ins)", summary
    ) as progress:
        from ..lab import partners

        progress.detail = f"{partners.declare()}: their keys and metadata in the inventory"
    bootstrap.lab_step(summary)  # root's key only, as on real servers: root -> deploy
    return lab_hosts


def cmd_lab(args: argparse.Namespace) -> int:
    from ..lab import engine, hosts

    refuse_inventory(args, f"lab {args.lab_command}")
    if args.lab_command == "up":
        summary = ui.Summary("lab up")
        lab_up(args, summary)
        summary.show()
        ui.console.print("Inventory: inventories/lab/hosts.yml — try `./deploy.py lab status`")
        return 0
    if args.lab_command == "down":
        return cmd_down(args)
    if args.lab_command == "status":
        with ui.progress_to_stderr(args.json):
            answers = engine.answers()
            lab_hosts = hosts.status() if answers else []
        if args.json:
            ui.print_document(lab_document(answers, lab_hosts))
        elif not answers:
            ui.console.print("No Docker engine answers: the lab is down.")
        else:
            _print_lab_status(lab_hosts)
        return 0
    if args.lab_command == "ssh":
        command = hosts.ssh_command(args.host)
        os.execvp(command[0], command)
    if args.lab_command == "image":
        _build_images(args.force, args.release)
    return 0


def _build_images(force: bool, release: str) -> None:
    from ..lab import engine, image

    summary = ui.Summary("lab image")
    client = engine.ensure()
    if release != image.SUITE:
        tag = image.bare_tag(release)
        with ui.step(f"{image.REPOSITORY}:{tag}", summary) as progress:
            built = image.build_bare(client, progress, force, suite=release)
            progress.detail = "built" if built else "cached"
        summary.show()
        return
    with ui.step("preau-lab:bare", summary) as progress:
        progress.detail = "built" if image.build_bare(client, progress, force) else "cached"
    with ui.step("preau-lab:baked", summary) as progress:
        progress.detail = "built" if image.build_baked(client, progress, force) else "cached"
    summary.show()


def lab_document(engine_answers: bool, lab_hosts: list[LabHost]) -> dict[str, Any]:
    """`lab status --json` (docs/contracts.md): whether Docker answers, and each lab host."""
    return {
        "engine": engine_answers,
        "up": any(host.state == "running" for host in lab_hosts),
        "hosts": [
            {
                "name": host.name,
                "groups": list(host.groups),
                "address": host.address,
                "private_address": host.private_address,
                "state": host.state,
            }
            for host in lab_hosts
        ],
    }


def _print_lab_status(lab_hosts: list[LabHost]) -> None:
    from rich.table import Table

    if not lab_hosts:
        ui.console.print("The lab is down (`./deploy.py lab up` to create it).")
        return
    table = Table(title="Lab hosts", title_justify="left")
    for column in ("host", "groups", "address", "private address", "state"):
        table.add_column(column)
    for host in lab_hosts:
        colour = "green" if host.state == "running" else "red"
        table.add_row(
            host.name,
            ", ".join(host.groups),
            host.address,
            host.private_address or "-",
            f"[{colour}]{host.state}[/]",
        )
    ui.console.print(table)


def cmd_down(args: argparse.Namespace) -> int:
    from ..lab import engine

    refuse_inventory(args, "down")
    summary = ui.Summary("lab down")
    if engine.answers():
        with ui.step("Lab containers and network", summary) as progress:
            from .. import lab

            removed = lab.remove(progress)
            progress.detail = ", ".join(removed) or "nothing to remove"
    with ui.step("Docker engine", summary) as progress:
        progress.detail = (
            "stopped (the lab had started it)" if engine.stop_if_ours(progress) else "left as found"
        )
    summary.show()
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from .. import converge, inventory, procedures
    from ..lab import hosts

    refuse_inventory(args, "up")
    summary = ui.Summary("deploy.py up")
    lab_up(args, summary)
    with ui.step("Inventory", summary) as progress:
        inv = inventory.load(None)
        progress.detail = f"{len(inv.hosts)} hosts, valid"
    if converge.SITE.exists():
        with ui.step("Converge (Ansible)", summary) as progress:
            result = converge.run_playbook(inv, progress=progress)
            progress.detail = f"{result.changed} changed"
            if result.failed:
                print_converge(result)
                raise OpsError("converge failed", "see the per-host errors above")
        ship(inv, None, summary)
        with ui.step("Demo establishments and logins", summary) as progress:
            demo = procedures.app_manage(inv, "seed_demo")
            progress.detail = ", ".join(e["uai"] for e in demo["establishments"])
        with ui.step("Lab partners (two IdPs, a CAS resource, the GAR)", summary) as progress:
            from ..lab import partners

            progress.detail = f"{partners.up(inv, demo['federation'])}, accounts of the demo"
    summary.show()
    _print_lab_status(hosts.status())
    _print_access(inv, demo if converge.SITE.exists() else None)
    return 1 if summary.failed else 0


def _print_access(inv: Inventory, demo: dict[str, Any] | None) -> None:
    from rich.table import Table

    domain = inv.hosts_in("lb")[0].vars.get("preau_domain", "")
    lb = inv.hosts_in("lb")[0].address
    ui.console.print(
        f"\n[bold]ENT:[/] https://{domain}/   (the lab's name: add `{lb} {domain}` "
        f"to /etc/hosts, or `curl --resolve {domain}:443:{lb}`; the lab CA is "
        f".lab/ca/ca.crt)"
    )
    monitoring = inv.hosts_in("monitoring")[0]  # its UIs: private address, TLS, a login
    ui.console.print(
        f"[bold]Prometheus:[/] {monitoring_api.url(monitoring, monitoring_api.PROMETHEUS)}   "
        f"[bold]Alertmanager:[/] {monitoring_api.url(monitoring, monitoring_api.ALERTMANAGER)}   "
        f"(user {monitoring.vars.get(monitoring_api.USER_VAR) or monitoring_api.DEFAULT_USER}, "
        f"password: the vault's "
        f"{monitoring_api.PASSWORD_VAR}; the internal CA is the vault's vault_pki_ca_cert)"
    )
    if not demo:
        return
    table = Table(title=f"Demo logins (password: {demo['password']})", title_justify="left")
    for column in ("login", "profile", "establishments"):
        table.add_column(column)
    for login in demo["logins"]:
        profile = login["profile"] + (" + ADML" if login.get("local_admin") else "")
        places = login.get("establishments") or []
        table.add_row(
            login["username"], profile, places if isinstance(places, str) else ", ".join(places)
        )
    ui.console.print(table)
