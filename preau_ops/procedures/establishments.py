"""Establishment procedures: deploy a new establishment, merge two, archive, list.

The app does the work in single transactions (`preau-manage establishment …`, `import_aaf`);
these procedures bring the files, order the steps, take the safety measures (backup,
maintenance mode) and report.
"""

from __future__ import annotations

import json
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
        # Files first: nothing is created on the platform until they are all on the host.
        # The temp dir is made as the connecting user so that SFTP can write in it.
        remote = session.run(host, "mktemp -d /tmp/preau-aaf.XXXXXX", sudo=False).stdout.strip()
        try:
            names = []
            for file in aaf_files:
                if progress:
                    progress.update(f"uploading {Path(file).name}")
                target = posixpath.join(remote, Path(file).name)
                session.connection.put(str(file), target)
                names.append(target)
            session.run(host, f"chown -R preau: {remote}")
            if uai in _listing(session, host):
                report["created"] = False
            else:
                if progress:
                    progress.update(f"creating {uai}")
                manage(
                    session, host, f"establishment create {uai} --name {_q(name)} --town {_q(town)}"
                )
                report["created"] = True
            if names:
                if progress:
                    progress.update("importing the directory (one transaction)")
                try:
                    report["import"] = manage(
                        session, host, f"import_aaf {uai} " + " ".join(map(_q, names))
                    )
                except AppCommandError as exc:
                    errors = exc.answer.get("errors") or []
                    listing = "\n".join(
                        f"  - {Path(e.get('file', '')).name}, record {e.get('record')}, "
                        f"{e.get('attribute')}: {e.get('message')}"
                        for e in errors[:20]
                    )
                    raise OpsError(
                        f"import refused, nothing was imported:\n{listing}",
                        "fix the files and run the same command again"
                        + (f" ({uai} exists now and will be reused)" if report["created"] else ""),
                    ) from exc
        finally:
            session.run(host, f"rm -rf {remote}", check=False)
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
        saved = ARTIFACTS / "merges" / f"{datetime.now():%Y%m%d-%H%M%S}-{src}-into-{dst}.json"
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(report, indent=2, ensure_ascii=False))
        report["saved_to"] = str(saved)
        outcome.detail = f"report {saved.name}, backup {label}"
    return report


def archive(inv: Inventory, uai: str) -> JSON:
    uai = check_uai(uai)
    with operation(inv, f"establishment archive {uai}") as (host, session, outcome):
        answer = manage(session, host, f"establishment archive {uai}")
        established: JSON = answer["establishment"]
        outcome.detail = established["status"]
        return established


def listing(inv: Inventory) -> list[JSON]:
    host = inv.hosts_in("app")[0]
    with FabricSession(host, inv) as session:
        return list(_listing(session, host).values())


def _q(value: str) -> str:
    import shlex

    return shlex.quote(str(value))
