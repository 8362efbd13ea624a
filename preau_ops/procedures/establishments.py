"""Establishment procedures: deploy a new establishment, import its directory's files
(complete or a delivery of daily deltas), merge two, archive, list, print activation letters.

The app does the work in single transactions (`preau-manage establishment add|merge|…`: an
establishment and its directory import are one, so a refused import leaves nothing behind);
these procedures bring the files, order the steps, take the safety measures (backup,
maintenance mode), refuse with the reason (a UAI held by a merged or archived establishment
named with its state) and report.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ..console import Progress
from ..errors import OpsError
from ..inventory import Host, Inventory
from ..paths import ARTIFACTS
from ..runner import FabricSession
from . import JSON, AppCommandError, manage, operation


def check_uai(value: str) -> str:
    """The UAI, normalised, or an OpsError saying what is wrong (the app's own rule)."""
    from preau.core.uai import normalize, uai_error

    uai = normalize(value)
    problem = uai_error(uai)
    if problem:
        raise OpsError(problem, "a UAI is 7 characters and its check letter, e.g. 0820021C")
    return str(uai)


def _listing(session: FabricSession, host: Host) -> dict[str, JSON]:
    return {e["uai"]: e for e in manage(session, host, "establishment list")["establishments"]}


def add(
    inv: Inventory,
    uai: str,
    name: str,
    town: str,
    aaf_files: list[Path],
    admin: str | None = None,
    progress: Progress | None = None,
) -> JSON:
    """Create (or reuse) the establishment, import its directory, name its local admin."""
    uai = check_uai(uai)
    missing = [str(f) for f in aaf_files if not Path(f).is_file()]
    if missing:
        raise OpsError("AAF file(s) not found: " + ", ".join(missing))
    report: JSON = {"uai": uai}
    with operation(inv, f"establishment add {uai}") as (host, session, outcome):
        refused = refusal(uai, _listing(session, host))
        if refused is not None:
            raise refused
        answer = _with_files(
            session,
            host,
            uai,
            lambda files: (
                f"establishment add {uai} --name {_q(name)} --town {_q(town)}"
                + (" --aaf " + files if files else "")
            ),
            aaf_files,
            progress,
        )
        report["created"], report["import"] = answer["created"], answer.get("import")
        admin = admin or _head_of(session, host, uai)
        if admin:
            manage(session, host, f"establishment admin {uai} {_q(admin)}")
            codes = manage(session, host, f"activation_codes {uai} --user {_q(admin)}")
            report["admin"] = {
                "username": admin,
                "code": (codes["codes"][0]["code"] if codes["codes"] else None),
            }
        report["establishment"] = _listing(session, host)[uai]
        outcome.detail = json.dumps(report["establishment"].get("users_by_profile", {}))
    return report


def import_files(
    inv: Inventory,
    uai: str,
    aaf_files: list[Path],
    confirm: bool = False,
    progress: Progress | None = None,
) -> JSON:
    """The AAF files of an existing establishment imported by the app's `import_aaf`: complete
    files, or the delta files of one delivery (the académie's daily changes, when they come
    by hand rather than through the drop directory): refused whole on a defect, held when they
    would remove more than [aaf] max_removal_percent of its accounts unless `confirm`."""
    uai = check_uai(uai)
    missing = [str(f) for f in aaf_files if not Path(f).is_file()]
    if missing or not aaf_files:
        raise OpsError("AAF file(s) not found: " + (", ".join(missing) or "none given"))
    with operation(inv, f"establishment import {uai}") as (host, session, outcome):
        option = " --confirm" if confirm else ""
        answer = _with_files(
            session, host, uai, lambda files: f"import_aaf {uai} {files}{option}", aaf_files,
            progress, what="import",
        )  # fmt: skip
        outcome.detail = str(answer.get("status") or answer.get("totals"))
        return answer


def _with_files(
    session: FabricSession,
    host: Host,
    uai: str,
    command: Callable[[str], str],
    aaf_files: list[Path],
    progress: Progress | None,
    what: str = "add",
) -> JSON:
    """The app's command that reads AAF files (`command(the uploaded paths)`: creation and
    import, or an import, each in one transaction), the files uploaded first to a temporary
    directory of the host, removed afterwards."""
    # Files first: nothing is created on the platform until they are all on the host.
    # The temp dir is made as the connecting user so that SFTP can write in it.
    remote = session.run(host, "mktemp -d /tmp/preau-aaf.XXXXXX", sudo=False).stdout.strip()
    try:
        names = []
        for file in aaf_files:
            if progress:
                progress.update(f"uploading {Path(file).name}")
            names.append(posixpath.join(remote, Path(file).name))
            session.connection.put(str(file), names[-1])
        session.run(host, f"chown -R preau: {remote}")
        if progress:
            progress.update("importing (one transaction)" if names else "creating")
        try:
            return manage(session, host, command(" ".join(map(_q, names))))
        except AppCommandError as exc:
            raise refused_by_app(uai, exc, what) from exc
    finally:
        session.run(host, f"rm -rf {remote}", check=False)


def refusal(uai: str, known: dict[str, JSON]) -> OpsError | None:
    """Why `establishment add UAI` is refused before anything is uploaded: the UAI is held by
    an establishment that was merged or archived (an active one is taken again: its directory
    is imported anew), or is the alias a merge left. None when the add may go on."""
    est = known.get(uai)
    if est is not None:
        if est["status"] == "active":
            return None
        what = f"{_named(est)} is {_state(est, known)}"
    else:
        est = next((e for e in known.values() if uai in (e.get("aliases") or [])), None)
        if est is None:
            return None
        what = f"{uai} is an alias of {_named(est)}, left by a merge"
    heir = _active_heir(est, known)
    return OpsError(
        f"{uai} is taken: {what}; nothing was uploaded, created or imported",
        "choose another UAI (`deploy.py establishment list` shows those taken)"
        + (
            f", or import the files into {heir['uai']}, the establishment it lives on in"
            if heir
            else ""
        ),
    )


def _named(est: JSON) -> str:
    return f"{est['uai']} ({est['name']}" + (f", {est['town']})" if est.get("town") else ")")


def _state(est: JSON, known: dict[str, JSON]) -> str:
    """An establishment's state in words: merged into whom and when, archived since when."""
    when = f" on {str(est['archived_at'])[:10]}" if est.get("archived_at") else ""
    target = est.get("merged_into")
    if est["status"] == "merged" and target:
        return f"merged into {_named(known.get(target) or {'uai': target, 'name': '?'})}{when}"
    if est["status"] == "archived":
        return f"archived{when}"
    return str(est["status"])


def _active_heir(est: JSON, known: dict[str, JSON]) -> JSON | None:
    """The active establishment a merged one lives on in (merges can chain), if any."""
    seen: set[str] = set()
    while est["status"] == "merged" and est.get("merged_into") in known and est["uai"] not in seen:
        seen.add(est["uai"])
        est = known[est["merged_into"]]
    return est if est["status"] == "active" else None


def refused_by_app(uai: str, exc: AppCommandError, what: str = "add") -> OpsError:
    """The app's refusal of `establishment add|import`, with its reason: every defect of the
    files (file, record, attribute), or the app's own words when it names no defect."""
    errors = exc.answer.get("errors") or []
    if not errors:
        held = exc.answer.get("status") == "pending"  # the removal guard of a delta
        return OpsError(
            f"establishment {what} {uai} refused, nothing was created or imported: "
            f"{exc.answer.get('error') or exc.message}",
            "check the removals it names, then run it again with --confirm"
            if held
            else "`deploy.py establishment list` shows the establishments and their state",
        )
    listing = "\n".join(f"  - {_defect(e)}" for e in errors[:20])
    more = f"\n  … and {len(errors) - 20} more" if len(errors) > 20 else ""
    return OpsError(
        f"import refused ({len(errors)} defect(s) in the files), nothing was created or "
        f"imported:\n{listing}{more}",
        "fix the files and run the same command again",
    )


def _defect(error: JSON | str) -> str:
    if isinstance(error, str):
        return error
    return (
        (f"{error['uai']}: " if error.get("uai") else "")
        + f"{Path(error.get('file', '')).name}, record {error.get('record')}, "
        f"{error.get('attribute')}: {error.get('message')}"
    )


def _head_of(session: FabricSession, host: Host, uai: str) -> str | None:
    """A DIR member of the establishment (the head), the default local administrator."""
    answer = manage(session, host, f"activation_codes {uai} --profile DIR --dry-run")
    return answer["codes"][0]["username"] if answer.get("codes") else None


def merge_plan(inv: Inventory, src: str, dst: str) -> JSON:
    """The dry-run report of a merge: changes nothing."""
    src, dst = check_uai(src), check_uai(dst)
    if src == dst:
        raise OpsError("an establishment cannot be merged into itself")
    host = inv.hosts_in("app")[0]
    with FabricSession(host, inv) as session:
        return manage(session, host, f"establishment merge {src} {dst} --dry-run")


def merge(
    inv: Inventory,
    src: str,
    dst: str,
    backup_label_of: Callable[[Inventory], str] | None = None,
    progress: Progress | None = None,
) -> JSON:
    """Backup, maintenance on both, the merge (one transaction), verification, report."""
    src, dst = check_uai(src), check_uai(dst)
    with operation(inv, f"establishment merge {src} {dst}") as (host, session, outcome):
        label = None
        if backup_label_of is not None:
            if progress:
                progress.update("fresh backup before the merge")
            label = outcome.backup = backup_label_of(inv)
        for uai in (src, dst):
            manage(
                session,
                host,
                f"maintenance on --uai {uai} --message 'Fusion d’établissements en cours'",
            )
        try:
            if progress:
                progress.update(f"merging {src} into {dst}")
            try:
                report = manage(session, host, f"establishment merge {src} {dst}")
            except AppCommandError as exc:
                raise OpsError(
                    f"the merge failed and was rolled back: {exc.message}",
                    f"the data is as before; backup taken just before: {label}"
                    if label
                    else "the data is as before",
                ) from exc
            failed = [c for c in report.get("checks", []) if not c.get("ok")]
            if failed:
                raise OpsError(
                    f"merge checks failed: {failed}",
                    f"restore from backup {label}" if label else None,
                )
        finally:
            for uai in (dst, src):
                manage(session, host, f"maintenance off --uai {uai}", check=False)
        report["backup_label"] = label
        saved = _save_report("merges", f"{src}-into-{dst}", report)
        outcome.detail = f"report {saved.name}, backup {label}"
    return report


def archive(inv: Inventory, uai: str) -> JSON:
    uai = check_uai(uai)
    with operation(inv, f"establishment archive {uai}") as (host, session, outcome):
        answer = manage(session, host, f"establishment archive {uai}")
        established: JSON = answer["establishment"]
        outcome.detail = established["status"]
        return established


def letters_command(uai: str, pdf: str, class_name: str = "", profile: str = "") -> str:
    """The app's `letters` command line: a class (its pupils, or with profile `parents` their
    parents) or a whole profile, the PDF written to `pdf` on the host."""
    if not class_name and not profile:
        raise OpsError("no selection: give --class, --profile or both", "e.g. --class 6A")
    options = "".join(
        f" {flag} {_q(value)}" for flag, value in (("--class", class_name), ("--profile", profile))
        if value
    )  # fmt: skip
    return f"letters {uai}{options} --output {_q(pdf)}"


def letters(
    inv: Inventory, uai: str, output: Path, class_name: str = "", profile: str = ""
) -> JSON:
    """A batch of activation letters made by the app's `letters` command on the first app host
    (the same batch as the directory's page makes: its codes issued once, listed there), its PDF
    written to a temporary directory of the host (0700), fetched to `output` (0600), removed
    there."""
    uai = check_uai(uai)
    if not output.parent.is_dir():
        raise OpsError(f"directory {output.parent} not found: nothing was done")
    command = letters_command(uai, "", class_name, profile)  # a missing selection, before SSH
    with operation(inv, f"establishment letters {uai}") as (host, session, outcome):
        login = session.run(host, "id -un", sudo=False).stdout.strip()
        remote = session.run(host, "mktemp -d /tmp/preau-letters.XXXXXX", sudo=False).stdout.strip()
        try:
            session.run(host, f"chown preau: {remote}")
            pdf = posixpath.join(remote, "lettres.pdf")
            command = letters_command(uai, pdf, class_name, profile)
            try:
                answer = manage(session, host, command)
            except AppCommandError as exc:
                raise OpsError(
                    f"establishment letters {uai} refused, no code was issued: "
                    f"{exc.answer.get('error') or exc.message}",
                    "`deploy.py establishment list` shows the establishments; the class is "
                    "named as in the directory (e.g. 6A)",
                ) from exc
            session.run(host, f"chown -R {_q(login)}: {remote}")
            # Activation codes: readable by this account only, from the first byte.
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # a file already there keeps its mode otherwise
            with os.fdopen(fd, "wb") as local:
                session.connection.get(pdf, local)
            outcome.detail = f"{answer.get('letters', 0)} letters"
            return answer
        finally:
            session.run(host, f"rm -rf {remote}", check=False)


def listing(inv: Inventory) -> list[JSON]:
    host = inv.hosts_in("app")[0]
    with FabricSession(host, inv) as session:
        return list(_listing(session, host).values())


def _q(value: str) -> str:
    import shlex

    return shlex.quote(str(value))


def _save_report(folder: str, name: str, report: JSON) -> Path:
    """A procedure's report kept on the controller (artifacts/FOLDER/<time>-NAME.json); its
    path also in the report (`saved_to`)."""
    saved = ARTIFACTS / folder / f"{datetime.now():%Y%m%d-%H%M%S}-{name}.json"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    report["saved_to"] = str(saved)
    return saved


def merge_backup(inv: Inventory, src: str, dst: str) -> str:
    """The backup label the operations log kept for the latest merge of SRC into DST (taken
    just before it: `merge`)."""
    from .. import operations

    command = f"establishment merge {src} {dst}"
    for entry in reversed(operations.verify(operations.read_log(inv))):
        if entry.get("command") == command and entry.get("outcome") == "ok":
            if not entry.get("backup"):
                raise OpsError(
                    f"the merge of {src} into {dst} ({entry.get('start')}) took no backup "
                    "(--no-backup): nothing to undo it from",
                    "only a restore of the whole platform goes back (`backup restore --to`)",
                )
            return str(entry["backup"])
    raise OpsError(
        f"the operations log has no merge of {src} into {dst}",
        "`deploy.py operations log` lists what was done",
    )


def unmerge(
    inv: Inventory,
    src: str,
    dst: str,
    confirm: Callable[[JSON], bool],
    progress: Progress | None = None,
) -> JSON:
    """Undo the latest merge of SRC into DST alone: the backup taken before it loaded into the
    copy database (`backup copy`), the app's undo rehearsed on it (`--dry-run`: its report, or
    its refusal, nothing changed), `confirm(report)`, then for real with DST in maintenance
    (SRC, merged, serves no one); the copy dropped whatever happens. Every other establishment keeps its day."""
    from . import backups

    src, dst = check_uai(src), check_uai(dst)
    label = merge_backup(inv, src, dst)
    with operation(inv, f"establishment unmerge {src} {dst}") as (host, session, outcome):
        copied = backups.copy(inv, label, progress)
        args = f"unmerge --merge-of {src} {dst} --source-dsn {_q('dbname=' + copied['database'])}"
        try:
            try:
                plan = manage(session, host, args + " --dry-run")
            except AppCommandError as exc:
                raise OpsError(exc.message, "nothing was changed") from exc
            if not confirm(plan):
                outcome.detail = "not confirmed: nothing changed"
                return {**plan, "confirmed": False}
            # DST only: SRC, merged, serves no one until it comes back (and takes no flag)
            manage(session, host, f"maintenance on --uai {dst} --message {_q(UNMERGING)}")
            try:
                if progress:
                    progress.update(f"bringing {src} and {dst} back as backup {label} holds them")
                report = manage(session, host, args)
            except AppCommandError as exc:
                raise OpsError(exc.message, "rolled back: the data is as before") from exc
            finally:
                manage(session, host, f"maintenance off --uai {dst}", check=False)
        finally:
            backups.drop_copy(inv)
        report["backup_label"] = label
        saved = _save_report("merges", f"{src}-out-of-{dst}", report)
        outcome.detail = f"merge of backup {label} undone, report {saved.name}"
    return report


UNMERGING = "Annulation d’une fusion d’établissements en cours"


def _upload_tree(session: FabricSession, host: Host, local: Path) -> str:
    """A directory of AAF files per establishment (DIR/<UAI>/*.xml) copied to a temporary
    directory of the host readable by the app's user; its path (the caller removes it)."""
    remote = session.run(host, "mktemp -d /tmp/preau-rentree.XXXXXX", sudo=False).stdout.strip()
    for folder in sorted(p for p in local.iterdir() if p.is_dir()):
        session.run(host, f"mkdir {_q(posixpath.join(remote, folder.name))}", sudo=False)
        for file in sorted(folder.glob("*.xml")):
            session.connection.put(str(file), posixpath.join(remote, folder.name, file.name))
    session.run(host, f"chown -R preau: {remote}")
    return remote


def rentree(
    inv: Inventory,
    aaf_dir: Path,
    year: int | None,
    rehearse: bool,
    progress: Progress | None = None,
) -> JSON:
    """The year change with the new year's AAF files (DIR/<UAI>/*.xml), reported per
    establishment (classes closed, pupils moved, leavers and their purge dates, surprises).
    Rehearsed: on a copy of a fresh backup (`backup copy`), the live database untouched, the
    copy dropped after. For real: a labelled backup first (the way back: `backup restore --to`
    the operation's start), the platform in maintenance meanwhile."""
    from . import backups

    folders = [p for p in aaf_dir.iterdir() if p.is_dir() and any(p.glob("*.xml"))]
    if not folders:
        raise OpsError(
            f"{aaf_dir}: no establishment folder with AAF files",
            "one folder per establishment, named by its UAI, holding its complete *.xml files",
        )
    for folder in folders:
        check_uai(folder.name)
    what = "establishment rentree" + (" --rehearse" if rehearse else "")
    args = "year_change" + (f" --year {int(year)}" if year else "")
    with operation(inv, what) as (host, session, outcome):
        if progress:
            progress.update("a full backup first")
        label = outcome.backup = backups.take_labelled_backup(inv)
        database = backups.copy(inv, label, progress)["database"] if rehearse else None
        remote = _upload_tree(session, host, aaf_dir)
        try:
            if not rehearse:
                manage(session, host, f"maintenance on --message {_q(RENTREE)}")
            if progress:
                progress.update("the year change and the imports (one transaction)")
            try:
                report = manage(session, host, f"{args} --aaf-dir {_q(remote)}", database=database)
            except AppCommandError as exc:
                if exc.answer.get("errors"):  # defects of the files, each named
                    raise refused_by_app("", exc) from exc
                raise OpsError(
                    f"the year change was refused, nothing changed: {exc.message}"
                ) from exc
        finally:
            if not rehearse:
                manage(session, host, "maintenance off", check=False)
            session.run(host, f"rm -rf {remote}", check=False)
            if rehearse:
                backups.drop_copy(inv)
        report.update(rehearsal=rehearse, backup_label=label)
        kind = "rehearsal" if rehearse else "done"
        saved = _save_report("rentree", kind, report)
        outcome.detail = f"{kind}: {report.get('surprises', 0)} surprise(s), report {saved.name}"
    return report


RENTREE = "Rentrée scolaire en cours"
