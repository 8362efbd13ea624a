"""Backup procedures: drive the tools the `backup` role installed (`preau-backup`, pgBackRest).

`now`, `list`, `verify` and `drill` run `preau-backup` on the backup (repository) host and read
its one-line JSON summary; `restore` is the point-in-time restore in place, on the db host,
with the app in maintenance meanwhile.
"""

from __future__ import annotations

import shlex
import time
from datetime import UTC, datetime

from ..console import Progress
from ..errors import OpsError
from ..inventory import Host, Inventory
from ..preconditions import refuse_bad_clocks
from ..runner import FabricSession
from . import JSON, json_answer, manage, operation

STANZA = "preau"
BACKUP_TIMEOUT = 3600  # a full backup, a drill or a restore of a large database


def _repo_host(inv: Inventory) -> Host:
    hosts = inv.hosts_in("backup")
    if not hosts:
        raise OpsError(f"inventory {inv.name} has no host in group backup")
    return hosts[0]


def _preau_backup(inv: Inventory, args: str, host: Host | None = None) -> JSON:
    host = host or _repo_host(inv)
    with FabricSession(host, inv) as session:
        result = session.run(
            host, f"/usr/local/sbin/preau-backup {args}", check=False, timeout=BACKUP_TIMEOUT
        )
    answer = json_answer(result, f"preau-backup {args}", host)
    if result.rc == 75:
        raise OpsError(f"{host.name}: another backup is running", "try again when it is done")
    if result.rc != 0 or not answer.get("ok"):
        raise OpsError(
            f"{host.name}: preau-backup {args} failed: "
            f"{answer.get('error') or result.stderr.strip()[-800:]}"
        )
    return answer


def now(inv: Inventory, kind: str = "full") -> JSON:
    if kind not in ("full", "diff", "incr"):
        raise OpsError(f"unknown backup kind {kind!r}", "full, diff or incr")
    return _preau_backup(inv, kind)


def take_labelled_backup(inv: Inventory) -> str:
    """A fresh full backup; its pgBackRest label (what to restore from)."""
    return str(now(inv, "full")["label"])


def _parse_time(value: int | str) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)


def listing(inv: Inventory) -> JSON:
    """The backups with their age, and the point-in-time recovery window."""
    answer = _preau_backup(inv, "list")
    now_ = datetime.now(UTC)
    for backup in answer.get("database", []):
        stop = _parse_time(backup["stop"])
        backup["stopped_at"] = stop.isoformat(timespec="seconds")
        backup["age_seconds"] = int((now_ - stop).total_seconds())
        backup["age_hours"] = round(backup["age_seconds"] / 3600, 1)
    backups = answer.get("database", [])
    if backups:
        answer["pitr_window"] = {
            "from": _parse_time(backups[0]["stop"]).isoformat(timespec="seconds"),
            "to": "latest archived WAL (" + str((answer.get("wal") or {}).get("max")) + ")",
        }
    return answer


def verify(inv: Inventory) -> JSON:
    return _preau_backup(inv, "verify")


def drill(inv: Inventory) -> JSON:
    return _preau_backup(inv, "drill")


def require_recent_backup(inv: Inventory, max_age_hours: float = 26) -> JSON:
    """Refuse when the latest database backup is older than `max_age_hours`."""
    backups = listing(inv).get("database", [])
    if not backups:
        raise OpsError("there is no database backup", "run `deploy.py backup now` first")
    latest = backups[-1]
    if latest["age_seconds"] > max_age_hours * 3600:
        raise OpsError(
            f"the latest backup ({latest['label']}) is {latest['age_hours']} h old "
            f"(limit {max_age_hours} h)",
            "run `deploy.py backup now` first",
        )
    return dict(latest)


def restore(inv: Inventory, target: str, progress: Progress | None = None) -> JSON:
    """Point-in-time restore of the database in place, to `target` (ISO time with zone)."""
    try:
        when = datetime.fromisoformat(target)
    except ValueError as exc:
        raise OpsError(f"--to {target!r} is not a time", "e.g. 2026-11-29T10:42:00+01:00") from exc
    if when.tzinfo is None:
        raise OpsError(f"--to {target!r} has no time zone", "e.g. 2026-11-29T10:42:00+01:00")
    if when > datetime.now(UTC):
        raise OpsError(f"--to {target} is in the future")
    db = inv.hosts_in("db")[0]
    stamp = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")
    started = time.monotonic()
    with operation(inv, f"backup restore --to {target}") as (app_host, app, outcome):
        with FabricSession(db, inv) as session:  # the target time is read on the db's clock
            refuse_bad_clocks(session, [db])
        manage(app, app_host, "maintenance on --message 'Restauration en cours'")
        try:
            with FabricSession(db, inv) as session:
                if progress:
                    progress.update(f"restoring {db.name} to {stamp}")
                cluster = session.run(
                    db, "pg_lsclusters -h | awk 'NR==1{print $1\"-\"$2}'"
                ).stdout.strip()
                unit = f"postgresql@{cluster}"
                session.run(db, f"systemctl stop {unit}")
                restore_cmd = (
                    f"pgbackrest --stanza={STANZA} --delta --type=time "
                    f"--target={shlex.quote(stamp)} --target-action=promote restore"
                )
                result = session.run(
                    db, f"sudo -u postgres {restore_cmd}", check=False, timeout=BACKUP_TIMEOUT
                )
                session.run(db, f"systemctl start {unit}")
                if result.rc != 0:
                    raise OpsError(
                        f"{db.name}: pgbackrest restore failed: "
                        f"{(result.stderr or result.stdout).strip()[-1200:]}"
                    )
                for _ in range(60):
                    ready = session.run(
                        db, "sudo -u postgres psql -tAc 'select pg_is_in_recovery()'", check=False
                    )
                    if ready.rc == 0 and ready.stdout.strip() == "f":
                        break
                    time.sleep(1)
                else:
                    raise OpsError(f"{db.name}: PostgreSQL did not finish recovery in 60 s")
        finally:
            manage(app, app_host, "maintenance off", check=False)
        rto = round(time.monotonic() - started, 1)
        outcome.detail = f"restored to {stamp} in {rto} s"
    return {"target": stamp, "rto_seconds": rto}
