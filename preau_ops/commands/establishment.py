"""establishment add, import, merge, unmerge, archive, letters, rentree, list: the
establishment procedures (Fabric)."""

from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING, Any

from .. import console as ui
from ..errors import OpsError
from ._common import Commands, add_command, confirmed, load

if TYPE_CHECKING:
    from ..inventory import Inventory


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    establishment = add_command(
        commands,
        common,
        "establishment",
        "establishment procedures (Fabric): add, import, merge, unmerge, archive, letters, "
        "rentree, list",
    )
    establishment.set_defaults(handler=cmd_establishment)
    actions = establishment.add_subparsers(dest="est_command", metavar="ACTION", required=True)
    _register_add(actions, common)
    est_import = actions.add_parser(
        "import",
        parents=[common],
        help="import an establishment's AAF files: complete ones, or the delta files of one "
        "delivery (the académie's daily changes, when they come by hand); refused whole on a "
        "defect, nothing imported",
        description="import an establishment's AAF files: complete ones (the directory as it "
        "is: absent persons are marked gone), or the delta files of ONE delivery "
        "(…_Delta_AAAAMMJJ_<category>_<n>.xml: adds, changes, deletions; a delivery already "
        "applied is skipped). Either is one transaction: a defect refuses it whole, each defect "
        "named. A delta that would remove more than [aaf] max_removal_percent of the accounts "
        "waits: check it, then run again with --confirm. Deltas deposited in the drop "
        "directory ([aaf] drop_dir) are imported by the queue every 15 minutes without this.",
    )
    est_import.add_argument("uai", help="UAI with its check letter, e.g. 0820021C")
    est_import.add_argument("files", nargs="+", metavar="FILE", help="AAF XML files")
    est_import.add_argument(
        "--confirm",
        action="store_true",
        help="apply a delta even if it removes more than the set share of the accounts",
    )
    est_import.add_argument("--json", action="store_true", help="the app's report as JSON")
    est_merge = actions.add_parser(
        "merge",
        parents=[common],
        help="merge SRC into DST: dry-run report, then on confirmation "
        "backup, maintenance, merge, verification, report",
    )
    est_merge.add_argument("src", help="UAI of the absorbed establishment")
    est_merge.add_argument("dst", help="UAI of the surviving establishment")
    est_merge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    est_merge.add_argument(
        "--no-backup",
        action="store_true",
        help="skip the backup before the merge (lab and tests only)",
    )
    est_unmerge = actions.add_parser(
        "unmerge",
        parents=[common],
        help="undo the latest merge of SRC into DST alone, from the backup taken before it",
        description="Undo the latest merge of SRC into DST, and only it: the backup the merge "
        "took just before (named in the operations log) is loaded into the copy database "
        "(`backup copy`), the undo is rehearsed on it and its report shown (or its refusal: DST "
        "written to since the merge, an import or a merge since, accounts changed… nothing is "
        "changed then), then on confirmation SRC and DST are brought back as the backup holds "
        "them, DST in maintenance meanwhile, in one transaction; every other establishment keeps "
        "its day. The copy is dropped after. Report under artifacts/merges/.",
    )
    est_unmerge.add_argument("src", help="UAI of the establishment the merge absorbed")
    est_unmerge.add_argument("dst", help="UAI of the establishment it was merged into")
    est_unmerge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    est_rentree = actions.add_parser(
        "rentree",
        parents=[common],
        help="the school year change with the new year's AAF files: --rehearse on a copy first",
        description="The rentrée: every establishment's classes of the year closed (read-only), "
        "the platform's school year moved on, and each establishment's complete AAF files of "
        "the new year imported, in one transaction; a report per establishment (classes closed, "
        "pupils moved, leavers and the dates their accounts are disabled and deleted, parents "
        "left without a child, surprises to check). A defect in any file refuses it all. "
        "--rehearse: on a copy of a fresh backup (`backup copy`), the live platform untouched. "
        "For real: a full backup first (the way back: `backup restore --to` the time the "
        "operations log gives), the platform in maintenance meanwhile. Reports under "
        "artifacts/rentree/.",
    )
    est_rentree.add_argument(
        "--aaf-dir",
        required=True,
        metavar="DIR",
        help="one folder per establishment named by its UAI, holding its complete AAF *.xml",
    )
    est_rentree.add_argument(
        "--year", type=int, help="the new school year (default: next), e.g. 2027"
    )
    est_rentree.add_argument(
        "--rehearse", action="store_true", help="on a copy of a fresh backup: nothing live changes"
    )
    est_rentree.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    est_rentree.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    est_archive = actions.add_parser("archive", help="archive an establishment", parents=[common])
    est_archive.add_argument("uai")
    est_letters = actions.add_parser(
        "letters",
        parents=[common],
        help="activation letters (PDF, one page per account) for a class or a profile",
        description="activation letters as a PDF, one A4 page per account (login, activation "
        "code, address and its QR code, instructions in French), for the accounts not yet "
        "activated and without a federated login: a class's pupils (--class), their parents "
        "(--class and --profile parents) or a whole profile (--profile). Codes are issued now "
        "(the previous ones of these accounts stop working); the batch is listed on the "
        "establishment's directory pages, where its PDF can be downloaded again until the "
        "codes expire.",
    )
    est_letters.add_argument("uai", help="UAI with its check letter, e.g. 0820021C")
    est_letters.add_argument("--class", dest="class_name", default="", metavar="CLASS")
    est_letters.add_argument(
        "--profile",
        default="",
        help="eleves, parents, enseignants, direction, vie-scolaire, personnels",
    )
    est_letters.add_argument(
        "--output", required=True, metavar="FILE", help="where to write the PDF (here)"
    )
    est_list = actions.add_parser(
        "list", help="establishments with users by profile and classes", parents=[common]
    )
    est_list.add_argument("--json", action="store_true", help="machine-readable output")


def _register_add(actions: Commands, common: argparse.ArgumentParser) -> None:
    est_add = actions.add_parser(
        "add",
        help="deploy a new establishment: create it, import its "
        "directory, name its local administrator",
        parents=[common],
    )
    est_add.add_argument("uai", help="UAI with its check letter, e.g. 0820021C")
    est_add.add_argument("--name", required=True, help="usual name, e.g. 'Collège Jean Moulin'")
    est_add.add_argument("--town", required=True, help="town")
    est_add.add_argument(
        "--aaf",
        nargs="+",
        default=[],
        metavar="FILE",
        help="complete AAF XML files (EtabEducNat, Eleve, PersRelEleve, PersEducNat)",
    )
    est_add.add_argument(
        "--admin", metavar="LOGIN", help="local administrator (default: the head of establishment)"
    )


def cmd_establishment(args: argparse.Namespace) -> int:
    from ..procedures import establishments as est

    if args.est_command in ("add", "import", "merge", "unmerge", "archive", "letters"):
        # a UAI typo is refused before anything connects
        pair = args.est_command in ("merge", "unmerge")
        for value in [args.src, args.dst] if pair else [args.uai]:
            est.check_uai(value)
    inv = load(args)
    if args.est_command == "list":
        return _list(args, inv)
    action = {
        "add": _add,
        "import": _import,
        "archive": _archive,
        "merge": _merge,
        "unmerge": _unmerge,
        "letters": _letters,
        "rentree": _rentree,
    }[args.est_command]
    return action(args, inv, ui.Summary(f"establishment {args.est_command}"))


def _list(args: argparse.Namespace, inv: Inventory) -> int:
    from rich.table import Table

    from ..procedures import establishments as est

    rows = est.listing(inv)
    if args.json:
        ui.print_document(rows)
        return 0
    table = Table(title=f"Establishments ({inv.name})", title_justify="left")
    for column in ("UAI", "name", "town", "status", "ELV", "TUT", "ENS", "staff", "classes"):
        table.add_column(column)
    table.add_column("last import")
    for e in rows:
        by = e.get("users_by_profile", {})
        staff = sum(by.get(p, 0) for p in ("DIR", "EVS", "ETA"))
        table.add_row(
            e["uai"],
            e["name"],
            e.get("town") or "",
            e["status"],
            *(str(by.get(p, 0)) for p in ("ELV", "TUT", "ENS")),
            str(staff),
            str(e.get("classes", 0)),
            (e.get("last_import") or "—")[:16],
        )
    ui.console.print(table)
    return 0


def _add(args: argparse.Namespace, inv: Inventory, summary: ui.Summary) -> int:
    from ..procedures import establishments as est

    with ui.step(f"Establishment {args.uai}", summary) as progress:
        report = est.add(inv, args.uai, args.name, args.town, args.aaf, args.admin, progress)
        by = report["establishment"].get("users_by_profile", {})
        progress.detail = (
            ("created" if report["created"] else "existed")
            + "; "
            + ", ".join(f"{p} {n}" for p, n in by.items() if n)
            + f"; {report['establishment'].get('classes', 0)} classes"
        )
    summary.show()
    notices = (report.get("import") or {}).get("notices") or []
    if notices:  # persons refused or given other rights by the import (French, from the app)
        ui.console.print(f"[bold]Import: {len(notices)} person(s) to check[/]", highlight=False)
        for line in notices:
            ui.console.print(f"  - {line}", markup=False, highlight=False)
    if report.get("admin"):
        ui.console.print(
            f"Local administrator: [bold]{report['admin']['username']}[/], "
            f"activation code: [bold]{report['admin']['code']}[/] "
            "(hand it over in person; valid 30 days)"
        )
    return 0


def _import(args: argparse.Namespace, inv: Inventory, summary: ui.Summary) -> int:
    from pathlib import Path

    from ..procedures import establishments as est

    with ui.progress_to_stderr(args.json), ui.step(f"Import into {args.uai}", summary) as progress:
        report = est.import_files(
            inv, args.uai, [Path(f) for f in args.files], args.confirm, progress
        )
        totals = report.get("totals") or {}
        progress.detail = (
            "already applied, skipped"
            if report.get("status") == "skipped"
            else f"{totals.get('created', 0)} created, {totals.get('updated', 0)} changed"
        )
    if args.json:
        ui.print_document(report)
        return 0
    summary.show()
    for line in report.get("notices") or []:  # persons refused or given other rights (French)
        ui.console.print(f"  - {line}", markup=False, highlight=False)
    return 0


def _archive(args: argparse.Namespace, inv: Inventory, summary: ui.Summary) -> int:
    from ..procedures import establishments as est

    with ui.step(f"Archive {args.uai}", summary) as progress:
        progress.detail = est.archive(inv, args.uai)["status"]
    summary.show()
    return 0


def _letters(args: argparse.Namespace, inv: Inventory, summary: ui.Summary) -> int:
    from pathlib import Path

    from ..procedures import establishments as est

    with ui.step(f"Letters for {args.uai}", summary) as progress:
        answer = est.letters(inv, args.uai, Path(args.output), args.class_name, args.profile)
        progress.detail = (
            f"{answer.get('letters', 0)} letter(s), codes valid until "
            + str(answer.get("expires_at") or "—")[:10]
        )
    summary.show()
    ui.console.print(f"PDF: {args.output} (activation codes: keep it safe, print, then delete)")
    return 0


def _merge(args: argparse.Namespace, inv: Inventory, summary: ui.Summary) -> int:
    from ..procedures import establishments as est

    with ui.step(f"Dry run: merge {args.src} into {args.dst}", summary):
        plan = est.merge_plan(inv, args.src, args.dst)
    _print_merge_plan(args, plan)
    needed = OpsError("confirmation needed", "re-run with --yes to merge without a prompt")
    question = f"Merge {args.src} into {args.dst}? Type the UAI {args.src} to confirm: "
    if not confirmed(args, question, args.src, needed, ignore_case=True):
        return 1
    backup = None
    if not args.no_backup:
        from ..procedures import backups

        backup = backups.take_labelled_backup
    with ui.step(f"Merge {args.src} into {args.dst}", summary) as progress:
        report = est.merge(inv, args.src, args.dst, backup, progress)
        progress.detail = f"report: {report['saved_to']}"
    summary.show()
    return 0


def _unmerge(args: argparse.Namespace, inv: Inventory, summary: ui.Summary) -> int:
    from ..procedures import establishments as est

    def confirm(plan: dict[str, Any]) -> bool:
        after = plan["after"]
        ui.console.print(
            f"The undo, rehearsed on the copy: {args.src} back with "
            f"{after['src'].get('memberships')} memberships and {after['src'].get('classes')} "
            f"classes, {args.dst} with {after['dst'].get('memberships')} and "
            f"{after['dst'].get('classes')}; accounts: {plan['accounts']['restored']} restored, "
            f"{len(plan['accounts']['recreated'])} re-created, {plan['accounts']['kept_live']} "
            "kept (members elsewhere)"
        )
        needed = OpsError("confirmation needed", "re-run with --yes to undo without a prompt")
        question = f"Undo the merge of {args.src} into {args.dst}? Type the UAI {args.src}: "
        return confirmed(args, question, args.src, needed, ignore_case=True)

    with ui.step(f"Undo the merge of {args.src} into {args.dst}", summary) as progress:
        report = est.unmerge(inv, args.src, args.dst, confirm, progress)
        progress.detail = (
            f"report: {report['saved_to']}" if "saved_to" in report else "not confirmed"
        )
    summary.show()
    return 0 if "saved_to" in report else 1


def _rentree(args: argparse.Namespace, inv: Inventory, summary: ui.Summary) -> int:
    from pathlib import Path

    from ..procedures import establishments as est

    aaf_dir = Path(args.aaf_dir)
    if not aaf_dir.is_dir():
        raise OpsError(f"--aaf-dir {aaf_dir}: not a directory")
    if not args.rehearse:
        needed = OpsError("confirmation needed", "re-run with --yes (rehearse first: --rehearse)")
        question = "Change the school year of the LIVE platform (maintenance meanwhile)? [yes/N] "
        if not confirmed(args, question, "yes", needed, ignore_case=False):
            return 1
    title = "Rentrée, rehearsed on a copy" if args.rehearse else "Rentrée"
    quiet = ui.progress_to_stderr() if args.json else contextlib.nullcontext()
    with quiet, ui.step(title, summary) as progress:
        report = est.rentree(inv, aaf_dir, args.year, args.rehearse, progress)
        progress.detail = (
            f"{report.get('previous_year')} → {report.get('school_year')}, "
            f"{report.get('surprises', 0)} surprise(s), report {report['saved_to']}"
        )
    if args.json:
        ui.print_document(report)
        return 0
    summary.show()
    for school in report.get("establishments", []):
        moved = sum((school.get("moves") or {}).values())
        ui.console.print(
            f"{school['uai']} {school.get('name', '')}: {len(school.get('classes_closed', []))} "
            f"class(es) closed, {moved} pupil(s) moved, {len(school.get('leaving', []))} "
            f"leaving, {len(school.get('surprises', []))} surprise(s)",
            markup=False,
        )
        for surprise in school.get("surprises", []):
            ui.console.print(f"  À VÉRIFIER : {surprise}", markup=False)
    return 0


def _print_merge_plan(args: argparse.Namespace, plan: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="What the merge will do", title_justify="left")
    for column in ("", f"{args.src} (absorbed)", f"{args.dst} (kept)", f"{args.dst} after"):
        table.add_column(column)
    before, after = plan["before"], plan["after"]
    keys = ("memberships", "classes", "groups", "class_memberships", "teachings", "parent_links")
    for key in keys:
        table.add_row(
            key,
            str(before["src"].get(key)),
            str(before["dst"].get(key)),
            str(after["dst"].get(key)),
        )
    ui.console.print(table)
    for item in plan.get("renamed_classes", []):
        ui.console.print(f"  class renamed: {item['from']} → {item['to']}")
    ui.console.print(f"  duplicate accounts merged: {len(plan.get('merged_accounts', []))}")
