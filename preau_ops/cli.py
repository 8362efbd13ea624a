"""deploy.py's commands. Each takes -i INVENTORY (default: the lab), shows progress, ends
with a summary, and exits non-zero on failure or when a precondition does not hold."""
from __future__ import annotations

import argparse
import os
import sys

from . import console as ui
from .errors import OpsError

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


def _inventory_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-i", "--inventory", metavar="INVENTORY", default=argparse.SUPPRESS,
                        help="inventory directory or name under inventories/ (default: lab)")
    common.add_argument("--vault-password-file", metavar="FILE", default=argparse.SUPPRESS,
                        help="file holding the ansible-vault password (or set "
                             "PREAU_VAULT_PASSWORD_FILE; a prompt otherwise)")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _inventory_options()
    parser = argparse.ArgumentParser(
        prog="deploy.py", description=DESCRIPTION, epilog=EPILOG, parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, **kwargs) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text,
                                   parents=[common], **kwargs)

    topology_help = ("single: one host in every group; standard (default): web=lb+app, db, "
                     "ops=backup+monitoring; scaled: lb, app1, app2, db, ops")
    up = command("up", "bring up the lab and deploy the whole stack on it")
    up.add_argument("--topology", choices=("single", "standard", "scaled"),
                    default="standard", help=topology_help)
    up.add_argument("--image", choices=("baked", "bare"), default="baked",
                    help="host image: baked (heavy packages pre-installed, default) or bare")
    command("down", "remove the lab: containers, network, the Docker daemon it started")

    lab = command("lab", "the local lab hosts alone (Docker containers running systemd)")
    lab_commands = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    lab_up = lab_commands.add_parser("up", help="create or repair the lab's hosts",
                                     description="create or repair the lab's hosts; "
                                                 "running twice is harmless")
    lab_up.add_argument("--topology", choices=("single", "standard", "scaled"),
                        default="standard", help=topology_help)
    lab_up.add_argument("--image", choices=("baked", "bare"), default="baked",
                        help="host image (default: baked)")
    lab_commands.add_parser("down", help="remove everything the lab created, nothing else")
    lab_commands.add_parser("status", help="hosts, groups, addresses and state")
    lab_ssh = lab_commands.add_parser("ssh", help="open a shell on a lab host")
    lab_ssh.add_argument("host", help="lab host name (see `lab status`)")
    lab_image = lab_commands.add_parser("image", help="build the host images (cached)")
    lab_image.add_argument("--force", action="store_true", help="rebuild even if cached")

    inventory = command("inventory", "check or show an inventory (hosts, groups, variables)")
    inventory.add_argument("action", choices=("check", "show"),
                           help="check: validate only; show: hosts and groups as tools see them")

    converge = command("converge", "converge hosts to what the roles declare (Ansible)")
    converge.add_argument("--check", action="store_true",
                          help="change nothing: report what would change (drift)")
    converge.add_argument("--diff", action="store_true", help="show file differences")
    converge.add_argument("--limit", metavar="HOSTS", help="hosts or groups, comma-separated")
    converge.add_argument("--tags", metavar="TAGS", help="only tasks with these tags "
                                                         "(role names, ANSSI R-numbers…)")

    release = command("release", "ship the app to the app hosts, one at a time, zero downtime "
                                 "(pyinfra)")
    release.add_argument("--source", metavar="DIR", default=None,
                         help="app source directory to ship (default: ./app); its version is "
                              "derived from its content, so shipping the same code twice is a "
                              "no-op")
    command("rollback", "every app host back to its previous release, one at a time")
    command("status", "health of every host, service, release, backup and alert at a glance")
    audit = command("audit", "verify live servers against the declared state, read-only "
                             "(testinfra); JUnit, JSON and HTML reports")
    audit.add_argument("--limit", metavar="HOSTS", help="hosts or groups, comma-separated")
    audit.add_argument("--control", nargs="+", metavar="ID", default=[],
                       help="only these controls (an id such as SSH-01, or a prefix: SSH)")
    audit.add_argument("--report", metavar="DIR", default=None,
                       help="where to write audit.xml, audit.json, audit.html "
                            "(default: artifacts/audit)")
    audit.add_argument("--as-auditor", action="store_true",
                       help="connect as the read-only auditor account (base_auditor_user); "
                            "the drift control is then skipped")
    audit.add_argument("--lynis-scan", action="store_true",
                       help="run a Lynis scan on each host (~70 s) instead of reading its last "
                            "report")
    audit.add_argument("--lang", choices=("fr", "en"), default="fr", help="HTML report language")
    patch = command("patch", "rolling OS security updates, one host at a time, services "
                             "restarted as needrestart says, health checks between hosts")
    patch.add_argument("--limit", metavar="HOSTS", help="hosts or groups, comma-separated")

    establishment = command("establishment", "establishment procedures (Fabric): add, merge, "
                                             "archive, list")
    est = establishment.add_subparsers(dest="est_command", metavar="ACTION", required=True)
    est_add = est.add_parser("add", help="deploy a new establishment: create it, import its "
                                         "directory, name its local administrator",
                             parents=[common])
    est_add.add_argument("uai", help="UAI with its check letter, e.g. 0820021C")
    est_add.add_argument("--name", required=True, help="usual name, e.g. 'Collège Jean Moulin'")
    est_add.add_argument("--town", required=True, help="town")
    est_add.add_argument("--aaf", nargs="+", default=[], metavar="FILE",
                         help="complete AAF XML files (EtabEducNat, Eleve, PersRelEleve, "
                              "PersEducNat)")
    est_add.add_argument("--admin", metavar="LOGIN",
                         help="local administrator (default: the head of establishment)")
    est_merge = est.add_parser("merge", parents=[common],
                               help="merge SRC into DST: dry-run report, then on confirmation "
                                    "backup, maintenance, merge, verification, report")
    est_merge.add_argument("src", help="UAI of the absorbed establishment")
    est_merge.add_argument("dst", help="UAI of the surviving establishment")
    est_merge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    est_merge.add_argument("--no-backup", action="store_true",
                           help="skip the backup before the merge (lab and tests only)")
    est_archive = est.add_parser("archive", help="archive an establishment", parents=[common])
    est_archive.add_argument("uai")
    est_list = est.add_parser("list", help="establishments with users by profile and classes",
                              parents=[common])
    est_list.add_argument("--json", action="store_true", help="machine-readable output")

    backup = command("backup", "backups and restores (Fabric driving pgBackRest/borgmatic)")
    bk = backup.add_subparsers(dest="backup_command", metavar="ACTION", required=True)
    bk_now = bk.add_parser("now", help="take a database backup now", parents=[common])
    bk_now.add_argument("--kind", choices=("full", "diff", "incr"), default="full")
    bk.add_parser("list", help="backups with age and size, and the PITR window",
                  parents=[common])
    bk.add_parser("verify", help="pgBackRest check + verify, borgmatic check", parents=[common])
    bk.add_parser("drill", help="restore the latest backup into a scratch cluster, check it, "
                                "report the RTO", parents=[common])
    bk_restore = bk.add_parser("restore", parents=[common],
                               help="point-in-time restore of the database IN PLACE "
                                    "(app in maintenance meanwhile)")
    bk_restore.add_argument("--to", required=True, metavar="TIME",
                            help="ISO time with zone, e.g. 2026-11-29T10:42:00+01:00")
    bk_restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    from . import bench as bench_options  # standard library only at import
    bench_options.add_arguments(command(
        "bench", "measure the bundle on the running lab (converge, release, rollback, "
                 "establishments, backups, RPO, audit, load through the lb) into BENCHMARKS.md, "
                 "next to the previous values, each measure once the machine is quiet (at most "
                 "a tenth of its CPU busy); --from-nothing also times `up` (destroys the lab)"))

    test = command("test", "run the project's tests (the README's test command)")
    test.add_argument("suites", nargs="*", metavar="SUITE",
                      help="unit, app, roles, lab (default: all, in that order)")
    test.add_argument("-k", metavar="EXPR", help="pytest -k expression, passed through")
    return parser


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = HANDLERS[args.command]
    try:
        return handler(args) or 0
    except OpsError as exc:
        ui.console.print(f"[bold red]error:[/] {exc.message}")
        if exc.hint:
            ui.console.print(f"[dim]hint:[/] {exc.hint}")
        return 1
    except KeyboardInterrupt:
        ui.console.print("[red]interrupted[/]")
        return 130


def _load(args):
    from . import inventory
    return inventory.load(getattr(args, "inventory", None),
                          getattr(args, "vault_password_file", None))


# ------------------------------------------------------------------------------- lab

def _refuse_inventory(args, what: str) -> None:
    if getattr(args, "inventory", None) not in (None, "lab", "inventories/lab"):
        raise OpsError(f"`{what}` works on the local lab only, not on -i {args.inventory}")


def lab_up(args, summary: ui.Summary) -> list:
    from .lab import engine, hosts, image, secrets

    with ui.step("Docker engine", summary) as progress:
        client = engine.ensure(progress)
        progress.detail = "started by the lab" if engine.started_by_us() else "already running"
    with ui.step("Lab images", summary) as progress:
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
    return lab_hosts


def cmd_lab(args) -> int:
    from .lab import engine, hosts, image

    _refuse_inventory(args, f"lab {args.lab_command}")
    if args.lab_command == "up":
        summary = ui.Summary("lab up")
        lab_up(args, summary)
        summary.show()
        ui.console.print("Inventory: inventories/lab/hosts.yml — try `./deploy.py lab status`")
        return 0
    if args.lab_command == "down":
        return cmd_down(args)
    if args.lab_command == "status":
        if not engine.answers():
            ui.console.print("No Docker engine answers: the lab is down.")
            return 0
        _print_lab_status(hosts.status())
        return 0
    if args.lab_command == "ssh":
        command = hosts.ssh_command(args.host)
        os.execvp(command[0], command)
    if args.lab_command == "image":
        summary = ui.Summary("lab image")
        client = engine.ensure()
        with ui.step("preau-lab:bare", summary) as progress:
            progress.detail = "built" if image.build_bare(client, progress, args.force) else "cached"
        with ui.step("preau-lab:baked", summary) as progress:
            progress.detail = "built" if image.build_baked(client, progress, args.force) else "cached"
        summary.show()
    return 0


def _print_lab_status(lab_hosts) -> None:
    from rich.table import Table

    if not lab_hosts:
        ui.console.print("The lab is down (`./deploy.py lab up` to create it).")
        return
    table = Table(title="Lab hosts", title_justify="left")
    for column in ("host", "groups", "address", "state"):
        table.add_column(column)
    for host in lab_hosts:
        colour = "green" if host.state == "running" else "red"
        table.add_row(host.name, ", ".join(host.groups), host.address,
                      f"[{colour}]{host.state}[/]")
    ui.console.print(table)


def cmd_down(args) -> int:
    from .lab import engine, hosts

    _refuse_inventory(args, "down")
    summary = ui.Summary("lab down")
    if engine.answers():
        with ui.step("Lab containers and network", summary) as progress:
            removed = hosts.down(progress)
            progress.detail = ", ".join(removed) or "nothing to remove"
    with ui.step("Docker engine", summary) as progress:
        progress.detail = "stopped (the lab had started it)" if engine.stop_if_ours() \
            else "left as found"
    summary.show()
    return 0


# ------------------------------------------------------------------------------- stack

def cmd_up(args) -> int:
    from . import converge, inventory, release
    from .lab import hosts

    _refuse_inventory(args, "up")
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
                _print_converge(result)
                raise OpsError("converge failed", "see the per-host errors above")
        _release(inv, None, summary)
        with ui.step("Demo establishments and logins", summary) as progress:
            demo = release.run_manage(inv, "seed_demo")
            progress.detail = ", ".join(e["uai"] for e in demo["establishments"])
    summary.show()
    _print_lab_status(hosts.status())
    _print_access(inv, demo if converge.SITE.exists() else None)
    return 1 if summary.failed else 0


def _print_access(inv, demo) -> None:
    from rich.table import Table

    domain = inv.hosts_in("lb")[0].vars.get("preau_domain", "")
    lb = inv.hosts_in("lb")[0].address
    ui.console.print(f"\n[bold]ENT:[/] https://{domain}/   (the lab's name: add `{lb} {domain}` "
                     f"to /etc/hosts, or `curl --resolve {domain}:443:{lb}`; the lab CA is "
                     f".lab/ca/ca.crt)")
    monitoring = inv.hosts_in("monitoring")[0].address
    ui.console.print(f"[bold]Prometheus:[/] http://{monitoring}:9090/   "
                     f"[bold]Alertmanager:[/] http://{monitoring}:9093/")
    if not demo:
        return
    table = Table(title=f"Demo logins (password: {demo['password']})", title_justify="left")
    for column in ("login", "profile", "establishments"):
        table.add_column(column)
    for login in demo["logins"]:
        profile = login["profile"] + (" + ADML" if login.get("local_admin") else "")
        places = login.get("establishments") or []
        table.add_row(login["username"], profile,
                      places if isinstance(places, str) else ", ".join(places))
    ui.console.print(table)


def cmd_inventory(args) -> int:
    inv = _load(args)
    if args.action == "check":
        ui.console.print(f"[green]✓[/] inventory {inv.name} is valid: {len(inv.hosts)} hosts, "
                         f"groups {', '.join(sorted(inv.groups))}")
        return 0
    from rich.table import Table
    table = Table(title=f"Inventory {inv.name}", title_justify="left")
    for column in ("host", "address", "user", "groups"):
        table.add_column(column)
    for host in inv.hosts.values():
        table.add_row(host.name, host.address, host.user, ", ".join(host.groups))
    ui.console.print(table)
    return 0


def _print_converge(result) -> None:
    from rich.table import Table
    table = Table(title=f"Converge — {result.duration:.1f} s", title_justify="left")
    for column in ("host", "ok", "changed", "failed", "duration"):
        table.add_column(column)
    for name, host in sorted(result.hosts.items()):
        failed = "unreachable" if host.unreachable else str(host.failed)
        table.add_row(name, str(host.ok), str(host.changed),
                      f"[red]{failed}[/]" if failed != "0" else "0", f"{host.duration:.1f} s")
    ui.console.print(table)
    for name, host in sorted(result.hosts.items()):
        for error in host.errors:
            ui.console.print(f"[red]{name}[/]: {error}")


def cmd_converge(args) -> int:
    from . import converge

    inv = _load(args)
    if args.limit:
        inv.limited(args.limit)  # validates the pattern before anything runs
    title = "Checking drift" if args.check else "Converging"
    with ui.step(f"{title} {inv.name} ({len(inv.hosts)} hosts)") as progress:
        result = converge.run_playbook(inv, check=args.check, diff=args.diff,
                                       limit=args.limit, tags=args.tags, progress=progress)
        if result.failed:
            progress.result, progress.detail = "failed", "see the errors below"
    _print_converge(result)
    if args.check:
        converge.print_drift(result)
        ui.console.print("No drift." if not result.changed else
                         f"[yellow]{result.changed} change(s) would be made.[/]")
    return 1 if result.failed else 0


def _release(inv, source, summary: ui.Summary):
    from pathlib import Path

    from . import release
    with ui.step("Release (pyinfra)", summary) as progress:
        report = release.release(inv, Path(source) if source else release.APP_DIR, progress)
        if report.switched:
            progress.detail = f"{report.version} on {', '.join(report.switched)}"
            progress.result = "changed"
        else:
            progress.detail = f"{report.version} already serving"
    return report


def cmd_release(args) -> int:
    inv = _load(args)
    summary = ui.Summary("release")
    _release(inv, args.source, summary)
    summary.show()
    return 0


def cmd_status(args) -> int:
    from . import status
    return status.show(_load(args), ui.console)


def cmd_patch(args) -> int:
    from . import release
    inv = _load(args)
    summary = ui.Summary("patch")
    with ui.step("Rolling OS updates", summary) as progress:
        done = release.patch(inv, args.limit, progress)
    for host, note in done.items():
        summary.add(host, "ok", note)
    summary.show()
    return 0


def cmd_rollback(args) -> int:
    from . import release
    inv = _load(args)
    summary = ui.Summary("rollback")
    with ui.step("Rollback", summary) as progress:
        done = release.rollback(inv, progress)
        progress.detail = ", ".join(f"{host} → {version}" for host, version in done.items())
    summary.show()
    return 0


def cmd_establishment(args) -> int:
    import json

    from rich.table import Table

    from .procedures import establishments as est

    if args.est_command in ("add", "merge", "archive"):
        # a UAI typo is refused before anything connects
        for value in ([args.uai] if args.est_command != "merge" else [args.src, args.dst]):
            est.check_uai(value)
    inv = _load(args)
    if args.est_command == "list":
        rows = est.listing(inv)
        if args.json:
            print(json.dumps(rows, indent=2, ensure_ascii=False))
            return 0
        table = Table(title=f"Establishments ({inv.name})", title_justify="left")
        for column in ("UAI", "name", "town", "status", "ELV", "TUT", "ENS", "staff", "classes",
                       "last import"):
            table.add_column(column)
        for e in rows:
            by = e.get("users_by_profile", {})
            staff = sum(by.get(p, 0) for p in ("DIR", "EVS", "ETA"))
            table.add_row(e["uai"], e["name"], e.get("town") or "", e["status"],
                          *(str(by.get(p, 0)) for p in ("ELV", "TUT", "ENS")), str(staff),
                          str(e.get("classes", 0)), (e.get("last_import") or "—")[:16])
        ui.console.print(table)
        return 0
    summary = ui.Summary(f"establishment {args.est_command}")
    if args.est_command == "add":
        with ui.step(f"Establishment {args.uai}", summary) as progress:
            report = est.add(inv, args.uai, args.name, args.town, args.aaf, args.admin, progress)
            by = report["establishment"].get("users_by_profile", {})
            progress.detail = (("created" if report["created"] else "existed") + "; "
                               + ", ".join(f"{p} {n}" for p, n in by.items() if n)
                               + f"; {report['establishment'].get('classes', 0)} classes")
        summary.show()
        notices = (report.get("import") or {}).get("notices") or []
        if notices:  # persons refused or given other rights by the import (French, from the app)
            ui.console.print(f"[bold]Import: {len(notices)} person(s) to check[/]", highlight=False)
            for line in notices:
                ui.console.print(f"  - {line}", markup=False, highlight=False)
        if report.get("admin"):
            ui.console.print(f"Local administrator: [bold]{report['admin']['username']}[/], "
                             f"activation code: [bold]{report['admin']['code']}[/] "
                             "(hand it over in person; valid 30 days)")
        return 0
    if args.est_command == "archive":
        with ui.step(f"Archive {args.uai}", summary) as progress:
            progress.detail = est.archive(inv, args.uai)["status"]
        summary.show()
        return 0
    return _merge(args, inv, est, summary)


def _merge(args, inv, est, summary) -> int:
    from rich.table import Table

    with ui.step(f"Dry run: merge {args.src} into {args.dst}", summary):
        plan = est.merge_plan(inv, args.src, args.dst)
    table = Table(title="What the merge will do", title_justify="left")
    for column in ("", f"{args.src} (absorbed)", f"{args.dst} (kept)", f"{args.dst} after"):
        table.add_column(column)
    before, after = plan["before"], plan["after"]
    for key in ("memberships", "classes", "groups", "class_memberships", "teachings",
                "parent_links"):
        table.add_row(key, str(before["src"].get(key)), str(before["dst"].get(key)),
                      str(after["dst"].get(key)))
    ui.console.print(table)
    for item in plan.get("renamed_classes", []):
        ui.console.print(f"  class renamed: {item['from']} → {item['to']}")
    ui.console.print(f"  duplicate accounts merged: {len(plan.get('merged_accounts', []))}")
    if not args.yes:
        if not sys.stdin.isatty():
            raise OpsError("confirmation needed", "re-run with --yes to merge without a prompt")
        if input(f"Merge {args.src} into {args.dst}? Type the UAI {args.src} to confirm: ") \
                .strip().upper() != args.src.upper():
            ui.console.print("Not confirmed: nothing changed.")
            return 1
    backup = None
    if not args.no_backup:
        from .procedures import backups
        backup = backups.take_labelled_backup
    with ui.step(f"Merge {args.src} into {args.dst}", summary) as progress:
        report = est.merge(inv, args.src, args.dst, backup, progress)
        progress.detail = f"report: {report['saved_to']}"
    summary.show()
    return 0


def cmd_backup(args) -> int:
    import json

    from .procedures import backups

    inv = _load(args)
    summary = ui.Summary(f"backup {args.backup_command}")
    if args.backup_command == "restore":
        if not args.yes:
            if not sys.stdin.isatty():
                raise OpsError("confirmation needed: a restore replaces the live database",
                               "re-run with --yes")
            if input("Replace the live database with its state at "
                     f"{args.to}? [yes/N] ").strip() != "yes":
                ui.console.print("Not confirmed: nothing changed.")
                return 1
        with ui.step(f"Point-in-time restore to {args.to}", summary) as progress:
            result = backups.restore(inv, args.to, progress)
            progress.detail = f"RTO {result['rto_seconds']} s"
        summary.show()
        return 0
    action = {"now": lambda: backups.now(inv, args.kind), "list": lambda: backups.listing(inv),
              "verify": lambda: backups.verify(inv), "drill": lambda: backups.drill(inv)}
    with ui.step(f"backup {args.backup_command}", summary) as progress:
        answer = action[args.backup_command]()
        progress.detail = {"now": lambda a: f"label {a.get('label')}",
                           "drill": lambda a: f"RTO {a.get('rto_seconds')} s",
                           }.get(args.backup_command, lambda a: "ok")(answer)
    if args.backup_command in ("list", "verify", "drill"):
        ui.console.print_json(json.dumps(answer))
    summary.show()
    return 0


def cmd_audit(args) -> int:
    from . import audit
    inv = _load(args)
    with ui.step(f"Audit of {inv.name}" + (" as the auditor" if args.as_auditor else "")) \
            as progress:
        run = audit.run(inv, limit=args.limit, controls=args.control, report_dir=args.report,
                        as_auditor=args.as_auditor, lynis_scan=args.lynis_scan,
                        lang=args.lang, progress=progress)
        counts = run.data["counts"]
        progress.detail = (f"{counts['passed']} passed, {counts['failed']} failed, "
                           f"{counts['skipped']} not verified in {run.data['duration']} s")
        if counts["failed"]:
            progress.result = "failed"
    audit.print_summary(run, ui.console)
    return run.code


def cmd_bench(args) -> int:
    from . import bench
    _refuse_inventory(args, "bench")
    return bench.run(_load(args), ui.console, args)


def cmd_test(args) -> int:
    from . import testing
    return testing.run(args.suites, args.k)


HANDLERS = {
    "up": cmd_up,
    "down": cmd_down,
    "lab": cmd_lab,
    "inventory": cmd_inventory,
    "converge": cmd_converge,
    "release": cmd_release,
    "rollback": cmd_rollback,
    "patch": cmd_patch,
    "status": cmd_status,
    "audit": cmd_audit,
    "establishment": cmd_establishment,
    "backup": cmd_backup,
    "bench": cmd_bench,
    "test": cmd_test,
}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
