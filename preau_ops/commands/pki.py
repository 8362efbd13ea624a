"""pki init, status, rotate: the internal certificate authority (CA in the vault, role pki);
pki saml-init, saml-status, saml-rotate: the platform's SAML signing pair (vault, role app)."""

from __future__ import annotations

import argparse
import datetime
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import console as ui
from ..errors import OpsError
from ._common import Commands, add_command, load

if TYPE_CHECKING:
    from ..inventory import Inventory
    from ..pki import HostPki


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    pki = add_command(
        commands, common, "pki", "the internal CA: create it, see the certificates, rotate it"
    )
    pki.set_defaults(handler=cmd_pki)
    actions = pki.add_subparsers(dest="pki_command", metavar="ACTION", required=True)
    actions.add_parser(
        "init",
        parents=[common],
        help="create the CA in the inventory's vault (refuses to replace one)",
    )
    for name, text in (
        ("status", "the CA and every host's certificate: issuer, names, days left"),
        ("rotate", "replace the CA without downtime (resumes an interrupted rotation)"),
    ):
        action = actions.add_parser(name, parents=[common], help=text)
        action.add_argument("--json", action="store_true", help="machine-readable output")
    actions.add_parser(
        "saml-init",
        parents=[common],
        help="create the SAML signing pair in the vault, issued by the CA when there is one",
    )
    actions.add_parser(
        "saml-status", parents=[common], help="the SAML signing certificate and its rotation"
    )
    saml_rotate = actions.add_parser(
        "saml-rotate",
        parents=[common],
        help="one phase of the SAML key's rotation: publish, then switch, then retire",
    )
    saml_rotate.add_argument("phase", choices=["publish", "switch", "retire"])
    saml_rotate.add_argument("--json", action="store_true", help="machine-readable output")
    saml_rotate.add_argument(
        "--min-hours",
        type=float,
        default=24,
        help="refuse switch or retire sooner than this after the previous phase (default 24: "
        "the partners' time to read the new metadata)",
    )


def cmd_pki(args: argparse.Namespace) -> int:
    inv = load(args)
    handler = {
        "init": _init,
        "status": _status,
        "rotate": _rotate,
        "saml-init": _saml_init,
        "saml-status": _saml_status,
        "saml-rotate": _saml_rotate,
    }[args.pki_command]
    return handler(args, inv)


def _init(args: argparse.Namespace, inv: Inventory) -> int:
    from .. import pki

    return _create(
        inv,
        "init",
        "the CA",
        pki.init_updates,
        pki.CA_CERT,
        "`deploy.py converge` issues every host's certificate",
    )


def _create(
    inv: Inventory,
    verb: str,
    what: str,
    updates: Callable[[dict[str, Any], str], dict[str, Any]],
    cert_key: str,
    then: str,
) -> int:
    """`pki init` and `pki saml-init`: a pair made and written in the vault (`updates`
    refuses to replace one), its certificate described."""
    from .. import pki

    summary = ui.Summary(f"pki {verb}")
    vault = pki.Vault.of(inv)
    with ui.step(f"Creating {what} of {inv.name}", summary) as progress:
        data = vault.update(updates(vault.read(), inv.name))
        info = pki.describe(data[cert_key])
        progress.result = "changed"
        progress.detail = f"{info.subject}, issuer {info.issuer}, in {vault.path}"
    summary.add("next", "skipped", then)
    summary.show()
    return 0


def _host_row(host: HostPki, renew_days: int) -> dict[str, Any]:
    cert = host.cert
    if cert is None:
        return {"host": host.name, "ok": False, "problem": "no certificate"}
    problem = (
        "not issued by the vault's CA"
        if not cert.issued_by_ca
        else f"{cert.days_left()} days left"
        if cert.days_left() < renew_days
        else ""
    )
    return {
        "host": host.name,
        "ok": not problem,
        "problem": problem,
        "issuer": cert.issuer,
        "names": list(cert.names),
        "not_after": cert.not_after.isoformat(),
        "days_left": cert.days_left(),
        "cas_trusted": len(host.bundle),
    }


def _status(args: argparse.Namespace, inv: Inventory) -> int:
    from .. import pki

    data = pki.Vault.of(inv).read()
    if not pki.is_set(data.get(pki.CA_CERT)):
        raise OpsError(f"the vault of {inv.name} has no CA", "run `deploy.py pki init`")
    ca = pki.describe(data[pki.CA_CERT])
    with ui.step(f"Reading the certificates of {inv.name} ({len(inv.hosts)} hosts)"):
        hosts = pki.read_hosts(inv, data[pki.CA_CERT])
    rows = [_host_row(h, pki.RENEW_DAYS) for h in hosts]
    answer = {
        "ca": {"subject": ca.subject, "not_after": ca.not_after.isoformat()},
        "rotation": pki.pending(data),
        "hosts": rows,
    }
    if args.json:
        print(json.dumps(answer, indent=2, ensure_ascii=False))
    else:
        _print_status(answer)
    return 0 if all(r["ok"] for r in rows) else 1


def _print_status(answer: dict[str, Any]) -> None:
    from rich.table import Table

    ca = answer["ca"]
    ui.console.print(f"CA: {ca['subject']}, until {ca['not_after'][:10]}")
    if answer["rotation"]:
        ui.console.print(
            f"[yellow]rotation stopped after phase {answer['rotation']}[/]: "
            "`deploy.py pki rotate` resumes it"
        )
    table = Table(title="Host certificates", title_justify="left")
    for column in ("host", "until", "days left", "names", "CAs trusted", "problem"):
        table.add_column(column)
    for row in answer["hosts"]:
        table.add_row(
            row["host"],
            row.get("not_after", "")[:10],
            str(row.get("days_left", "")),
            ", ".join(row.get("names", [])),
            str(row.get("cas_trusted", "")),
            f"[red]{row['problem']}[/]" if row["problem"] else "",
        )
    ui.console.print(table)


def _rotate(args: argparse.Namespace, inv: Inventory) -> int:
    from .. import converge, pki, procedures

    summary = ui.Summary("pki rotate")
    vault = pki.Vault.of(inv)

    def run_phase(phase: str) -> None:
        with ui.step(f"Phase {phase}: {pki.PHASE_TEXT[phase]}", summary) as progress:
            result = converge.run_playbook(inv, tags="pki", progress=progress)
            if result.failed:
                errors = [f"{n}: {e}" for n, h in result.hosts.items() for e in h.errors]
                raise OpsError(
                    f"pki rotate stopped in phase {phase}: {'; '.join(errors)[:500]}",
                    "fix the cause, then run `deploy.py pki rotate` again: it resumes there",
                )
            progress.result, progress.detail = "changed", f"{result.changed} change(s)"

    def check(phase: str, data: dict[str, Any]) -> None:
        problems = pki.phase_problems(pki.read_hosts(inv, data[pki.CA_CERT]), data, phase)
        if problems:
            raise OpsError(
                f"after phase {phase}: {'; '.join(problems)}",
                "run `deploy.py pki rotate` again: it resumes at this phase",
            )

    with procedures.operation(inv, "pki rotate") as (_host, _session, outcome):
        phases = pki.rotate(inv, vault, run_phase, check)
        outcome.detail = "phases " + ", ".join(phases)
    ca = pki.describe(vault.read()[pki.CA_CERT])
    if args.json:
        print(json.dumps({"phases": phases, "ca": ca.subject}, ensure_ascii=False))
    summary.add("new CA", "ok", f"{ca.subject}, until {ca.not_after:%Y-%m-%d}")
    summary.show()
    return 0


# --------------------------------------------------------------------------- SAML signing pair


def _saml_init(args: argparse.Namespace, inv: Inventory) -> int:
    from .. import pki

    return _create(
        inv,
        "saml-init",
        "the SAML signing pair",
        pki.saml_init_updates,
        pki.SAML_CERT,
        "`deploy.py converge` deploys it where app_federation_enabled is true",
    )


def _saml_status(args: argparse.Namespace, inv: Inventory) -> int:
    from .. import pki

    data = pki.Vault.of(inv).read()
    if not pki.is_set(data.get(pki.SAML_CERT)):
        raise OpsError(
            f"the vault of {inv.name} has no SAML signing pair", "run `deploy.py pki saml-init`"
        )
    info = pki.describe(data[pki.SAML_CERT])
    ui.console.print(f"SAML signing: {info.subject}, issuer {info.issuer}")
    late = info.days_left() < pki.SAML_RENEW_DAYS
    colour = "red" if late else "green"
    ui.console.print(f"until {info.not_after:%Y-%m-%d}: [{colour}]{info.days_left()} days left[/]")
    rotation = data.get(pki.SAML_ROTATION) or {}
    if phase := pki.saml_pending(data):
        ui.console.print(
            f"rotation at phase {phase} since {rotation.get('since')}; "
            f"{len(pki.saml_published(data))} certificate(s) published"
        )
    elif late:
        ui.console.print("start a rotation: `deploy.py pki saml-rotate publish`")
    return 1 if late and not pki.saml_pending(data) else 0


def _saml_rotate(args: argparse.Namespace, inv: Inventory) -> int:
    from .. import converge, pki, procedures, runner
    from ..audit import declared

    summary = ui.Summary(f"pki saml-rotate {args.phase}")
    vault = pki.Vault.of(inv)
    # a phase out of order is refused here, before the platform's lock and any connection
    pki.saml_check(vault.read(), args.phase, datetime.datetime.now(datetime.UTC), args.min_hours)
    paths = {
        host.name: found
        for host in inv.hosts_in("app")
        if (
            found := pki.saml_metadata_paths(
                lambda name, default=None, h=host: declared.var(h, name, default)
            )
        )
    }

    def run_phase() -> None:
        """The phase's converge, one app host at a time, each out of the load balancers
        while its app restarts on the new files (a restart queues requests that the load
        shedding then refuses: all hosts at once failed requests, test_63's drill)."""
        from ..release import host as release_host

        lbs, app_hosts = inv.hosts_in("lb"), inv.hosts_in("app")
        changed = 0
        with ui.step(f"Phase {args.phase}: {pki.SAML_PHASE_TEXT[args.phase]}", summary) as progress:
            with runner.session(inv, lbs + app_hosts) as sessions:
                for target in app_hosts:
                    with release_host.drained(sessions, lbs, target, app_hosts, progress):
                        result = converge.run_playbook(
                            inv, tags="app-federation", limit=target.name, progress=progress
                        )
                    if result.failed:
                        errors = [f"{n}: {e}" for n, h in result.hosts.items() for e in h.errors]
                        raise OpsError(
                            f"pki saml-rotate stopped in phase {args.phase}: "
                            f"{'; '.join(errors)[:500]}",
                            f"fix the cause, then run `deploy.py pki saml-rotate {args.phase}` "
                            "again",
                        )
                    changed += result.changed
            progress.result, progress.detail = "changed", f"{changed} change(s)"

    def check(data: dict[str, Any]) -> None:
        expected = pki.saml_published(data)
        problems = [
            problem
            for where, body in pki.read_saml_metadata(inv, paths).items()
            for problem in pki.metadata_problems(where, body, expected)
        ]
        if problems:
            raise OpsError(
                f"after phase {args.phase}: {'; '.join(problems)[:500]}",
                f"run `deploy.py pki saml-rotate {args.phase}` again: it resumes this phase",
            )

    with procedures.operation(inv, f"pki saml-rotate {args.phase}") as (_host, _session, outcome):
        how = pki.saml_rotate(vault, args.phase, run_phase, check, args.min_hours, inv.name)
        outcome.detail = f"phase {args.phase} {how}"
    data = vault.read()
    info = pki.describe(data[pki.SAML_CERT])
    published = len(pki.saml_published(data))
    if args.json:
        print(
            json.dumps(
                {"phase": args.phase, "run": how, "signing": info.subject, "published": published},
                ensure_ascii=False,
            )
        )
    summary.add("signing", "ok", f"{info.subject}, until {info.not_after:%Y-%m-%d}")
    summary.add("published", "ok", f"{published} certificate(s) in the metadata")
    following = {"publish": "switch", "switch": "retire"}.get(args.phase)
    if following:
        summary.add(
            "next",
            "skipped",
            "once ÉduConnect, the académie and the GAR have read the metadata: "
            f"`deploy.py pki saml-rotate {following}`",
        )
    summary.show()
    return 0
