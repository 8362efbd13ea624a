"""The database's major upgrade: `deploy.py db upgrade` and `db upgrade --finish`.

Debian's way (docs/upgrades.md): the host moves to the next Debian release first (`deploy.py
patch --to trixie`, PostgreSQL 15 keeps serving: Debian leaves `postgresql-15` installed),
then `pg_upgradecluster -m upgrade --link` moves the cluster to the new major in seconds (the
data files are linked, not copied), the converge puts the new major's declared state in place
(role postgresql's configuration; role backup's `stanza-upgrade`) and a full backup starts the
new major's backups. The app is in maintenance from just before pg_upgradecluster to after the
converge: that is the downtime, measured and returned.

The way back: until the new cluster has started, the old one is untouched; after, the backup
label taken first (`record.backup` in the operations log), restored into the old major's
cluster, which stays on the host (stopped, port 5433) until `db upgrade --finish`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .. import converge
from ..console import Progress
from ..errors import OpsError
from ..inventory import Host, Inventory
from ..release.host import say
from ..runner import FabricSession
from . import JSON, manage, operation
from .backups import take_labelled_backup

CLUSTERS = "pg_lsclusters --no-header"
CLUSTER = "main"
UPGRADE_TIMEOUT = 3600  # pg_upgradecluster with --link: seconds; its analyze stages: minutes
INSTALL_TIMEOUT = 1800
APT = (
    "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
    "-o Dpkg::Options::=--force-confold"
)
MAINTENANCE = "Mise à jour de la base de données"
# role backup's check that WAL reaches the repository (its oneshot: `start` waits for it)
WAL_CHECK = "systemctl start preau-wal-archive-check.service"


@dataclass(frozen=True)
class Cluster:
    """One line of pg_lsclusters: a PostgreSQL cluster of the host."""

    version: str
    name: str
    port: int
    status: str  # online, down, "online,recovery"


def parse_clusters(text: str) -> list[Cluster]:
    """pg_lsclusters' lines (version, name, port, status, owner, data directory, log)."""
    clusters = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2].isdigit():
            clusters.append(Cluster(fields[0], fields[1], int(fields[2]), fields[3]))
    return clusters


def to_upgrade(clusters: list[Cluster], target: str, host: str) -> Cluster | None:
    """The cluster to move to major `target`: the online one named main; None when it is
    already on `target`. An OpsError saying why not, before anything changed."""
    online = [c for c in clusters if c.name == CLUSTER and c.status.startswith("online")]
    if len(online) != 1:
        listed = ", ".join(f"{c.version}/{c.name} {c.status}" for c in clusters) or "none"
        raise OpsError(
            f"{host}: no single online cluster named {CLUSTER} to upgrade (clusters: {listed})",
            "nothing was changed; `deploy.py status` shows the database",
        )
    current = online[0]
    if current.version == target:
        return None
    if int(current.version) > int(target):
        raise OpsError(
            f"{host} serves PostgreSQL {current.version}, newer than the inventory's "
            f"postgresql_version {target}",
            "nothing was changed; a major is never downgraded in place: set the inventory's "
            "postgresql_version to the one the host serves",
        )
    if any(c.version == target and c.name == CLUSTER for c in clusters):
        raise OpsError(
            f"{host} already has a PostgreSQL {target} cluster {CLUSTER} beside the live "
            f"{current.version} one (an interrupted upgrade?)",
            f"nothing was changed; look at it (`pg_lsclusters`), and if it holds nothing, "
            f"`pg_dropcluster --stop {target} {CLUSTER}` on {host}, then run this again",
        )
    return current


def _single_db(inv: Inventory) -> Host:
    dbs = inv.hosts_in("db")
    if len(dbs) != 1:
        raise OpsError(
            f"db upgrade moves one database host's cluster; inventory {inv.name} has "
            f"{len(dbs)} in group db",
            "with Patroni (several db hosts) the upgrade is not built yet (issue #22)",
        )
    return dbs[0]


def _target(db: Host) -> str:
    from ..audit import declared

    return str(declared.var(db, "postgresql_version"))


def _refuse_missing_packages(session: FabricSession, hosts: list[Host], target: str) -> None:
    """PostgreSQL `target` must be installable on the db host (and the backup hosts: their
    restore drill runs its binaries): Debian 13 has 17, Debian 12 none."""
    missing = []
    for host in hosts:
        policy = session.run(host, f"apt-cache policy postgresql-{target}", check=False).stdout
        if "Candidate:" not in policy or "Candidate: (none)" in policy:
            missing.append(host.name)
    if missing:
        raise OpsError(
            f"PostgreSQL {target} is not in the package sources of {', '.join(missing)}",
            "nothing was changed; move the hosts to Debian 13 first: "
            f"`deploy.py patch --to trixie --limit {','.join(missing)} --allow-downtime`",
        )


def upgrade(inv: Inventory, progress: Progress | None = None) -> JSON:
    """Move the db host's cluster to the inventory's postgresql_version (pg_upgradecluster
    --link), the app in maintenance meanwhile (and still after a failure, said so); the
    converge of the db and backup hosts; a full backup of the new major."""
    db = _single_db(inv)
    target = _target(db)
    backups = inv.hosts_in("backup")
    with operation(inv, f"db upgrade to {target}") as (app_host, app, record):
        with FabricSession(db, inv) as session:
            old = to_upgrade(parse_clusters(session.run(db, CLUSTERS).stdout), target, db.name)
            if old is None:
                record.detail = f"already on PostgreSQL {target}"
                return {"host": db.name, "version": target, "upgraded": False}
            _refuse_missing_packages(session, [db, *backups], target)
            say(progress, f"{db.name}: installing PostgreSQL {target} ({old.version} serves)")
            session.run(db, f"{APT} postgresql-{target}", timeout=INSTALL_TIMEOUT)
            made = parse_clusters(session.run(db, CLUSTERS).stdout)
            if any(c.version == target and c.name == CLUSTER for c in made):
                # postgresql-common made an empty cluster at install (create_main_cluster)
                session.run(db, f"pg_dropcluster --stop {target} {CLUSTER}")
        say(progress, "a full backup: the way back")
        record.backup = take_labelled_backup(inv)
        started = time.monotonic()
        manage(app, app_host, f"maintenance on --message '{MAINTENANCE}'")
        try:
            upgrade_seconds = _pg_upgradecluster(inv, db, old, target, progress)
            say(progress, f"converging {db.name} and the backup hosts for PostgreSQL {target}")
            limit = ",".join(h.name for h in [db, *backups])
            result = converge.run_playbook(inv, limit=limit, progress=progress)
            if result.failed:
                raise OpsError(f"the converge of {limit} failed: {result.errors()[-1500:]}")
        except OpsError as failed:
            raise OpsError(
                f"{failed.message}; the app stays in maintenance",
                f"the way back: docs/upgrades.md (backup {record.backup}, PostgreSQL "
                f"{old.version}'s cluster kept on {db.name}); or fix and converge, then "
                "`preau-manage maintenance off` on an app host",
            ) from failed
        manage(app, app_host, "maintenance off")
        downtime = round(time.monotonic() - started, 1)
        say(progress, f"a full backup of PostgreSQL {target}")
        new_backup = take_labelled_backup(inv)
        with FabricSession(db, inv) as session:  # WAL reaches the repository again (BKP-08)
            for backup in backups:
                session.run(backup, WAL_CHECK, check=False, timeout=INSTALL_TIMEOUT)
        record.detail = (
            f"{old.version} -> {target} on {db.name}: maintenance {downtime} s "
            f"(pg_upgradecluster {upgrade_seconds} s); backups {record.backup} (before), "
            f"{new_backup} (after)"
        )
    return {
        "host": db.name,
        "from": old.version,
        "version": target,
        "upgraded": True,
        "maintenance_seconds": downtime,
        "pg_upgradecluster_seconds": upgrade_seconds,
        "backup_before": record.backup,
        "backup_after": new_backup,
        "old_cluster": f"{old.version}/{old.name}, stopped (db upgrade --finish drops it)",
    }


def _pg_upgradecluster(
    inv: Inventory, db: Host, old: Cluster, target: str, progress: Progress | None
) -> float:
    say(progress, f"{db.name}: pg_upgradecluster {old.version} -> {target} (--link)")
    command = f"pg_upgradecluster -v {target} -m upgrade --link {old.version} {old.name}"
    started = time.monotonic()
    with FabricSession(db, inv) as session:
        result = session.run(db, command, check=False, timeout=UPGRADE_TIMEOUT)
        if not result.ok:
            raise OpsError(
                f"{db.name}: pg_upgradecluster failed: {(result.stderr or result.stdout)[-1200:]}"
            )
        # The old cluster, kept for the way back, never starts by itself (at boot it would
        # take the port back): `pg_ctlcluster OLD main start` only after a restore into it.
        session.run(db, f"echo manual > /etc/postgresql/{old.version}/{old.name}/start.conf")
    return round(time.monotonic() - started, 1)


def finish(inv: Inventory, progress: Progress | None = None) -> JSON:
    """Once the new major is accepted: the old clusters dropped and their packages purged on
    the db host, the old binaries on the backup hosts. Refused unless the inventory's major
    serves."""
    db = _single_db(inv)
    target = _target(db)
    backups = inv.hosts_in("backup")
    with operation(inv, f"db upgrade --finish ({target})") as (_, _, record):
        with FabricSession(db, inv) as session:
            clusters = parse_clusters(session.run(db, CLUSTERS).stdout)
            if to_upgrade(clusters, target, db.name) is not None:
                raise OpsError(
                    f"{db.name} does not serve PostgreSQL {target} yet",
                    "nothing was changed; `deploy.py db upgrade` first",
                )
            old = sorted({c.version for c in clusters if c.version != target})
            for cluster in clusters:
                if cluster.version != target:
                    say(progress, f"{db.name}: dropping {cluster.version}/{cluster.name}")
                    session.run(db, f"pg_dropcluster --stop {cluster.version} {cluster.name}")
            purge = " ".join(f"postgresql-{v} postgresql-client-{v}" for v in old)
            for host in [db, *backups] if purge else []:
                say(progress, f"{host.name}: purging {purge}")
                command = f"DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq {purge}"
                session.run(host, command, timeout=INSTALL_TIMEOUT)
        record.detail = f"dropped PostgreSQL {', '.join(old) or 'nothing'} on {db.name}"
    return {"host": db.name, "version": target, "dropped": old}
