"""Backup procedures: drive the tools the `backup` role installed (`preau-backup`, pgBackRest).

`now`, `list`, `verify` and `drill` run `preau-backup` on the backup (repository) host and read
its one-line JSON summary; `restore` is the point-in-time restore in place, on the db host,
with the app in maintenance meanwhile; `copy` loads the database as a given backup left it
into a second database of the db host (`preau_copy`), beside the live one, for the procedures
that compare the past with the present (a merge undone, the rentrée rehearsed).
"""

from __future__ import annotations

import json
import shlex
import time
from datetime import UTC, datetime

from ..console import Progress
from ..errors import OpsError
from ..inventory import Host, Inventory
from ..preconditions import refuse_bad_clocks
from ..runner import FabricSession, json_answer, pipe
from . import JSON, manage, operation

STANZA = "preau"
SWITCH_WAL = "SELECT pg_walfile_name(pg_switch_wal())"
LAST_ARCHIVED = "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"
ARCHIVE_WAIT = 120  # seconds: archive_command ships a segment in a second or two
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
    answer = json_answer(result, f"preau-backup {args}")
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


RECOVERY_STALL = 300  # seconds without replay progress before a restore is declared stuck


def restore_problem(info: list[JSON], cluster_major: str, when: datetime) -> str | None:
    """Why a restore to WHEN cannot start, from `pgbackrest info --output=json`: backups of
    another PostgreSQL major version than the cluster's, or none that ended before WHEN
    (pgBackRest would take the latest instead and the recovery could never reach WHEN)."""
    versions = {str(db.get("version")) for stanza in info for db in stanza.get("db", [])}
    stops = [
        int(backup["timestamp"]["stop"]) for stanza in info for backup in stanza.get("backup", [])
    ]
    unreadable = [
        str(stanza["status"].get("message"))
        for stanza in info
        if isinstance(stanza.get("status"), dict) and stanza["status"].get("code") not in (0, None)
    ]
    if not versions or not stops:
        if unreadable:
            return f"pgBackRest cannot read the repository: {'; '.join(unreadable)}"
        return "the repository holds no backup of this stanza"
    if versions != {cluster_major}:
        return (
            f"the backups are of PostgreSQL {', '.join(sorted(versions))}, the cluster is "
            f"{cluster_major}: a restore cannot cross major versions"
        )
    if min(stops) > when.timestamp():
        oldest = _parse_time(min(stops)).isoformat(timespec="seconds")
        return f"the oldest backup ended at {oldest}, after {when.isoformat()}: nothing to restore from"
    return None


def _replay_position(session: FabricSession, db: Host) -> tuple[bool, str]:
    """(still recovering, where the replay is): from PostgreSQL once it takes connections,
    else from its startup process's title (`startup recovering <WAL file>`)."""
    asked = session.run(
        db,
        "sudo -u postgres psql -tAc "
        "\"select pg_is_in_recovery(), coalesce(pg_last_wal_replay_lsn()::text, '')\"",
        check=False,
    )
    if asked.rc == 0:
        recovering, _, lsn = asked.stdout.strip().partition("|")
        return recovering == "t", lsn
    title = session.run(db, "ps -C postgres -o args= | grep -m1 'startup' || true").stdout
    return True, title.strip()


def _wait_recovered(session: FabricSession, db: Host, unit: str, progress: Progress | None) -> None:
    """Until PostgreSQL has left recovery, as long as the replay moves on: a large replay
    takes what it takes; stuck RECOVERY_STALL seconds, or the server stopped, is a failure."""
    last, moved = "", time.monotonic()
    while True:
        recovering, position = _replay_position(session, db)
        if not recovering:
            return
        if position != last:
            last, moved = position, time.monotonic()
            if progress:
                progress.update(f"{db.name}: replaying WAL ({position or 'starting'})")
        if not session.run(db, f"systemctl is-active --quiet {unit}", check=False).ok:
            raise OpsError(
                f"{db.name}: PostgreSQL stopped during recovery", f"journalctl -u {unit}"
            )
        if time.monotonic() - moved > RECOVERY_STALL:
            raise OpsError(
                f"{db.name}: recovery made no progress in {RECOVERY_STALL} s (at {last})",
                f"journalctl -u {unit}; the WAL it needs may be missing from the repository",
            )
        time.sleep(1)


def _archive_now(session: FabricSession, db: Host, progress: Progress | None) -> None:
    """The WAL written until now in the repository (a segment switch, then wait for it to be
    archived), so that a target minutes ago is reachable: the current segment would otherwise
    wait up to archive_timeout, and recovery would end short of the target."""
    if progress:
        progress.update(f"archiving {db.name}'s WAL up to now")
    switched = session.run(db, f"sudo -u postgres psql -XAtq -c {shlex.quote(SWITCH_WAL)}")
    segment = switched.stdout.strip()
    deadline = time.monotonic() + ARCHIVE_WAIT
    while True:
        last = session.run(db, f"sudo -u postgres psql -XAtq -c {shlex.quote(LAST_ARCHIVED)}")
        if last.stdout.strip() >= segment:
            return
        if time.monotonic() > deadline:
            raise OpsError(
                f"{db.name}: WAL segment {segment} is not archived after {ARCHIVE_WAIT} s "
                f"(last archived: {last.stdout.strip() or 'none'})",
                "nothing was changed. Archiving is stalled (`deploy.py status`, alert "
                "PostgreSQLWalArchivingStalled): fix it first, or restore to a time before the "
                "last archived segment",
            )
        time.sleep(1)


def restore(inv: Inventory, target: str, progress: Progress | None = None) -> JSON:
    """Point-in-time restore of the database in place, to `target` (ISO time with zone), the
    app in maintenance meanwhile (and still after a failure, said so); a new full backup on
    the new timeline once the app is back."""
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
            cluster = session.run(
                db, "pg_lsclusters -h | awk 'NR==1{print $1\"-\"$2}'"
            ).stdout.strip()
            info = session.run(
                db, f"sudo -u postgres pgbackrest --stanza={STANZA} info --output=json"
            )
            problem = restore_problem(json.loads(info.stdout or "[]"), cluster.split("-")[0], when)
            if problem:
                raise OpsError(f"{db.name}: {problem}", "nothing was changed")
            _archive_now(session, db, progress)
        manage(app, app_host, "maintenance on --message 'Restauration en cours'")
        try:
            with FabricSession(db, inv) as session:
                if progress:
                    progress.update(f"restoring {db.name} to {stamp}")
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
                _wait_recovered(session, db, unit, progress)
        except OpsError as failed:
            raise OpsError(
                f"{failed.message}; the app stays in maintenance",
                "check the database first (`deploy.py status`, psql on the db host), then "
                "restore again, or on an app host `preau-manage maintenance off`",
            ) from failed
        manage(app, app_host, "maintenance off")
        rto = round(time.monotonic() - started, 1)
        if progress:
            progress.update("a full backup of the new timeline")
        outcome.backup = take_labelled_backup(inv)
        outcome.detail = f"restored to {stamp} in {rto} s; new full backup {outcome.backup}"
    return {"target": stamp, "rto_seconds": rto, "new_backup": outcome.backup}


def databases(db: Host) -> tuple[str, str, str]:
    """(live, copy, app role): the app's database, the copy's and the app's runtime role, as
    role postgresql declares them (its pg_hba lets the app's roles in to both databases from
    the app hosts)."""
    from ..audit import declared

    live = str(declared.var(db, "postgresql_app_database"))
    copy = str(declared.var(db, "postgresql_copy_database") or "")
    if not copy:
        raise OpsError(f"{db.name}: postgresql_copy_database is empty: no copy database here")
    return live, copy, str(declared.var(db, "postgresql_app_user"))


def copy(inv: Inventory, label: str, progress: Progress | None = None) -> JSON:
    """The database as backup LABEL left it (its end), as the copy database of the db host,
    replacing the previous copy: restored and dumped on the backup host (`preau-backup copy`,
    in the drill's scratch cluster, never archiving), streamed through the controller into
    the db host (pg_restore, never stored on the controller), the dump then deleted. The live
    database is never touched; an unknown label changes nothing."""
    db = inv.hosts_in("db")[0]
    labels = [b["label"] for b in listing(inv).get("database", [])]
    if label not in labels:
        raise OpsError(
            f"no backup {label!r} in the repository",
            "`deploy.py backup list` shows them: " + (", ".join(labels[-5:]) or "none yet"),
        )
    live, name, app_user = databases(db)
    started = time.monotonic()
    if progress:
        progress.update(f"restoring {label} into a scratch cluster on the backup host")
    dumped = _preau_backup(inv, f"copy --label {shlex.quote(label)}")
    dump = str(dumped["dump"])
    repo = _repo_host(inv)
    try:
        with FabricSession(db, inv) as session:
            owner = session.run(
                db,
                "sudo -u postgres psql -XAtq -c "
                + shlex.quote(
                    f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{live}'"
                ),
            ).stdout.strip()
            if not owner:
                raise OpsError(f"{db.name}: no database {live} to take the owner from")
            session.run(db, f"sudo -u postgres dropdb --if-exists --force {shlex.quote(name)}")
            session.run(
                db,
                f"sudo -u postgres createdb -T template0 -O {shlex.quote(owner)} {shlex.quote(name)}",
            )
            # as the live database (role postgresql): connections for the app's roles only
            grants = (
                f'REVOKE CONNECT, TEMPORARY ON DATABASE "{name}" FROM PUBLIC; '
                f'GRANT CONNECT ON DATABASE "{name}" TO "{app_user}"'
            )
            session.run(db, f"sudo -u postgres psql -XAtq -c {shlex.quote(grants)}")
        if progress:
            progress.update(
                f"loading {label} ({dumped.get('size_bytes', '?')} bytes) into {db.name}:{name}"
            )
        restore = f"sudo -u postgres pg_restore --exit-on-error --single-transaction -d {shlex.quote(name)}"
        try:
            pipe(inv, (repo, f"sudo cat {shlex.quote(dump)}"), (db, restore), BACKUP_TIMEOUT)
        except OpsError:
            drop_copy(inv)  # no empty copy left to be taken for the backup's state
            raise
    finally:
        with FabricSession(repo, inv) as session:
            session.run(repo, f"sudo rm -f {shlex.quote(dump)}", check=False)
    return {
        "backup": label,
        "database": name,
        "host": db.name,
        "size_bytes": dumped.get("size_bytes"),
        "duration_seconds": round(time.monotonic() - started, 1),
    }


def drop_copy(inv: Inventory) -> JSON:
    """Remove the copy database (its data is personal data: keep it no longer than needed)."""
    db = inv.hosts_in("db")[0]
    _, name, _ = databases(db)
    with FabricSession(db, inv) as session:
        session.run(db, f"sudo -u postgres dropdb --if-exists --force {shlex.quote(name)}")
    return {"database": name, "host": db.name, "dropped": True}
