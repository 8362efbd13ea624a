"""audit: live servers against the declared state, read-only (testinfra)."""

from __future__ import annotations

import argparse

from .. import console as ui
from ._common import Commands, add_command, load


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
    audit.set_defaults(handler=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    from .. import audit

    inv = load(args)
    with ui.step(
        f"Audit of {inv.name}" + (" as the auditor" if args.as_auditor else "")
    ) as progress:
        run = audit.run(
            inv,
            limit=args.limit,
            controls=args.control,
            report_dir=args.report,
            as_auditor=args.as_auditor,
            lynis_scan=args.lynis_scan,
            lang=args.lang,
            progress=progress,
        )
        counts = run.data["counts"]
        progress.detail = (
            f"{counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['skipped']} not verified in {run.data['duration']} s"
        )
        if counts["failed"]:
            progress.result = "failed"
    audit.print_summary(run, ui.console)
    return run.code
