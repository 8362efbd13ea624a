"""audit: live servers against the declared state, read-only (testinfra)."""

from __future__ import annotations

import argparse
from datetime import UTC
from typing import TYPE_CHECKING, Any

from .. import console as ui
from ._common import Commands, add_command, load

if TYPE_CHECKING:
    from ..audit import AuditRun
    from ..inventory import Inventory


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    audit = add_command(
        commands,
        common,
        "audit",
        "verify live servers against the declared state, read-only "
        "(testinfra); JUnit, JSON and HTML reports",
    )
    audit.add_argument("--limit", metavar="HOSTS", help="hosts or groups, comma-separated")
    audit.add_argument(
        "--control",
        nargs="+",
        metavar="ID",
        default=[],
        help="only these controls (an id such as SSH-01, or a prefix: SSH)",
    )
    audit.add_argument(
        "--skip",
        nargs="+",
        metavar="ID",
        default=[],
        help="leave these controls out (ids or prefixes, as --control): --skip DRIFT-01 "
        "audits without the converge in check mode, the slowest control (minutes)",
    )
    audit.add_argument(
        "--report",
        metavar="DIR",
        default=None,
        help="where to write audit.xml, audit.json, audit.html (default: artifacts/audit)",
    )
    audit.add_argument(
        "--as-auditor",
        action="store_true",
        help="connect as the read-only auditor account (base_auditor_user); "
        "the drift control is then skipped",
    )
    audit.add_argument(
        "--lynis-scan",
        action="store_true",
        help="run a Lynis scan on each host (~70 s) instead of reading its last report",
    )
    audit.add_argument("--lang", choices=("fr", "en"), default="fr", help="HTML report language")
    audit.add_argument(
        "--json",
        action="store_true",
        help="every control's outcome as one JSON document alone on stdout (progress and "
        "findings on stderr; the reports are written as always)",
    )
    audit.add_argument(
        "--history",
        metavar="DIR",
        default=None,
        help="where each audit's audit.json is kept, to show what changed since the previous "
        "one (default: artifacts/audit-history/INVENTORY)",
    )
    audit.add_argument(
        "--sign-key",
        metavar="KEYID",
        default=None,
        help="sign the report directory's MANIFEST with this GnuPG key of the auditor "
        "(keyring: GNUPGHOME); without it the manifest is written unsigned",
    )
    audit.set_defaults(handler=cmd_audit)
    # `audit verify DIR`: a subcommand beside the options (optional: `audit` alone runs it)
    actions = audit.add_subparsers(dest="audit_command", metavar="verify", required=False)
    verify = actions.add_parser(
        "verify",
        help="check a report directory's MANIFEST: every file's SHA-256, no file added or "
        "removed, and its signature against the auditor's public key",
        description="check a report directory's MANIFEST: every file's SHA-256, no file added "
        "or removed, and its signature against the auditor's public key",
    )
    verify.add_argument("directory", metavar="DIR", help="a report directory (audit --report)")
    verify.add_argument(
        "--key",
        metavar="PUBKEY.asc",
        default=None,
        help="the auditor's public key (imported into a temporary keyring, not yours); "
        "without it the signature is not checked",
    )
    verify.add_argument(
        "--json",
        action="store_true",
        help="one JSON document on stdout: the manifest's header, the problems, whether the "
        "signature was checked",
    )
    verify.set_defaults(handler=cmd_verify)


def cmd_audit(args: argparse.Namespace) -> int:
    from .. import audit

    inv = load(args)
    with ui.progress_to_stderr(args.json):
        run = _run(args, inv)
        audit.print_summary(run, ui.console)
    if args.json:
        ui.print_document(document(run))
    return run.code


def cmd_verify(args: argparse.Namespace) -> int:
    """No inventory needed: the directory and the key are all it reads."""
    from pathlib import Path

    from ..audit import seal

    directory = Path(args.directory)
    key = Path(args.key) if args.key else None
    with (
        ui.progress_to_stderr(args.json),
        ui.step(f"Verify the sealed evidence in {directory}") as progress,
    ):
        about, problems = seal.verify(directory, key)
        if problems:
            progress.result = "failed"
            progress.detail = f"{len(problems)} problem(s)"
        else:
            progress.detail = "every file as sealed" + (
                ", signature good" if key else "; signature not checked (no --key)"
            )
    if args.json:
        ui.print_document(
            {
                "directory": str(directory),
                "verified": not problems,
                "signature_checked": key is not None,
                "manifest": about,
                "problems": problems,
            }
        )
        return 1 if problems else 0
    for name, value in about.items():
        ui.console.print(f"{name}: {value}")
    for problem in problems:
        ui.console.print(f"[red]✘[/] {problem}")
    return 1 if problems else 0


def _run(args: argparse.Namespace, inv: Inventory) -> AuditRun:
    from .. import audit

    with ui.step(
        f"Audit of {inv.name}" + (" as the auditor" if args.as_auditor else "")
    ) as progress:
        run = audit.run(
            inv,
            limit=args.limit,
            controls=args.control,
            skip=args.skip,
            report_dir=args.report,
            as_auditor=args.as_auditor,
            lynis_scan=args.lynis_scan,
            lang=args.lang,
            progress=progress,
            history_dir=args.history,
            sign_key=args.sign_key,
        )
        counts = run.data["counts"]
        progress.detail = (
            f"{counts['passed']} passed, {counts['failed']} failed, {counts['waived']} waived, "
            f"{counts['skipped']} not verified in {run.data['duration']} s"
        )
        if counts["failed"]:
            progress.result = "failed"
    return run


def document(run: AuditRun) -> dict[str, Any]:
    """`audit --json` (docs/contracts.md): the run and one row per control and host, in id
    then host order; the evidence stays in the reports (audit.json)."""
    data = run.data
    return {
        "inventory": data["inventory"],
        "started": _utc(data["started"]),
        "duration_seconds": data["duration"],
        "account": data["account"],
        "as_auditor": data["as_auditor"],
        "hosts": data["hosts"],
        "score_percent": data["score"],
        "counts": data["counts"],
        "reports": {
            kind: str(run.report_dir / f"audit.{kind}") for kind in ("html", "json", "xml")
        },
        "manifest": str(run.report_dir / "MANIFEST"),
        "signed_by": run.signed_by,
        "since_previous": _since(data.get("since") or {}),
        "controls": [
            {
                "id": result["control"],
                "title": result.get("title"),
                "requirement": result.get("requirement"),
                "host": result["host"],
                "outcome": result["status"],
                "message": result.get("message", ""),
                "waiver": result.get("waiver"),
            }
            for result in sorted(data["results"], key=lambda r: (r["control"], r["host"]))
        ],
    }


def _since(since: dict[str, Any]) -> dict[str, Any] | None:
    """The changes since the previous audit, as (control, host) pairs and names."""
    if not since.get("previous"):
        return None
    pairs = {
        key: [{"id": r["control"], "host": r["host"]} for r in since[key]]
        for key in ("new_failures", "fixed", "changed")
    }
    names = ("new_hosts", "hosts_gone", "new_controls", "controls_gone")
    entries = since["operations"]["entries"]
    return {
        "previous_started": _utc(since["previous"]),
        **pairs,
        **{key: since[key] for key in names},
        "operations": None if entries is None else [e.get("seq") for e in entries],
    }


def _utc(started: str) -> str:
    """The run's start (local time with its offset, as the reports show it) in UTC."""
    from ..audit import history

    return history.moment(started).astimezone(UTC).isoformat(timespec="seconds")
