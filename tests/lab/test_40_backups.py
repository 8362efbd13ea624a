"""Backups on real hosts: backup now, list, verify, the restore drill, and a point-in-time
restore that brings back a deleted row."""

import shlex
import time
from datetime import UTC, datetime

import pytest

from preau_ops import operations, procedures, runner
from preau_ops.errors import OpsError
from preau_ops.procedures import backups
from preau_ops.release.host import manage_command

from .conftest import WAL_CHECK, WAL_PROM, deploy, psql

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]


@pytest.fixture(scope="module")
def backed_up(lab):
    deploy("release", timeout=1200)  # the app (and its data) is there, whatever ran before
    out = deploy("backup", "now", "--kind", "diff").stdout
    assert "label" in out
    return lab


def test_list_shows_recent_backups_and_the_pitr_window(backed_up):
    listing = backups.listing(backed_up)
    assert len(listing["database"]) >= 2
    assert listing["database"][-1]["age_hours"] < 1
    assert "pitr_window" in listing


def test_verify_passes(backed_up):
    assert backups.verify(backed_up)["ok"] is True


def test_restore_drill_passes_and_reports_its_rto(backed_up):
    out = deploy("backup", "drill", timeout=900).stdout
    assert "RTO" in out


def test_wal_reaches_the_repository_through_a_bounded_asynchronous_queue(backed_up):
    """The db host archives asynchronously with a queue limit (a dead repository never fills
    pg_wal: roles/backup); the backup host's timer checks, from the repository's side, that a
    fresh segment still arrives (what pg_stat_archiver cannot tell once pgBackRest drops WAL)."""
    lab = backed_up
    db, ops = lab.hosts_in("db")[0], lab.hosts_in("backup")[0]
    with runner.FabricSession(db, lab) as session:
        conf = session.run(db, "cat /etc/pgbackrest/pgbackrest.conf").stdout
    assert "archive-async=y" in conf.splitlines()
    assert "archive-push-queue-max=4GiB" in conf.splitlines()
    with runner.FabricSession(ops, lab) as session:
        session.run(ops, "systemctl is-enabled preau-wal-archive-check.timer")  # checked
        session.run(ops, f"rm -f {WAL_PROM}")
        session.run(ops, WAL_CHECK)
        metrics = session.run(ops, f"cat {WAL_PROM}").stdout
    assert 'preau_wal_archive_check_success{stanza="preau"} 1.000' in metrics.splitlines()


def test_recent_backup_precondition(backed_up):
    backups.require_recent_backup(backed_up, max_age_hours=26)
    with pytest.raises(OpsError, match="old"):
        backups.require_recent_backup(backed_up, max_age_hours=0.0001)


def test_a_backup_copied_beside_the_live_database_is_that_backup_and_the_app_reads_it(backed_up):
    """`backup copy --label L`: the database as backup L left it, in the copy database beside
    the live one (which keeps what was written since), reachable by the app's runtime role
    from an app host (what an unmerge or a rentrée rehearsal reads); `--drop` removes it."""
    lab = backed_up
    psql(lab, "DROP TABLE IF EXISTS lab_copy_probe", "preau")
    psql(lab, "CREATE TABLE lab_copy_probe (id int primary key)", "preau")
    psql(lab, "INSERT INTO lab_copy_probe VALUES (1)", "preau")
    label = backups.now(lab, "incr")["label"]
    psql(lab, "INSERT INTO lab_copy_probe VALUES (2)", "preau")
    with pytest.raises(OpsError, match="no backup '20200101-000000F'"):
        backups.copy(lab, "20200101-000000F")
    out = deploy("backup", "copy", "--label", label, timeout=900).stdout
    assert "preau_copy" in out
    assert psql(lab, "SELECT string_agg(id::text, ',') FROM lab_copy_probe", "preau_copy") == "1"
    assert (
        psql(lab, "SELECT string_agg(id::text, ',' ORDER BY id) FROM lab_copy_probe", "preau")
        == "1,2"
    )
    app = lab.hosts_in("app")[0]
    count = "from preau.core.models import Establishment as E; print(E.objects.count())"
    with runner.FabricSession(app, lab) as session:
        in_copy = session.run(
            app, manage_command(f"shell -c {shlex.quote(count)}", False, database="preau_copy")
        ).stdout.splitlines()[-1]  # after Django's "N objects imported automatically"
    assert int(in_copy) == int(psql(lab, "SELECT count(*) FROM core_establishment", "preau"))
    entry = operations.verify(operations.read_log(lab))[-1]
    assert entry["command"] == f"backup copy --label {label}" and entry["outcome"] == "ok"
    psql(lab, "DROP TABLE lab_copy_probe", "preau")
    deploy("backup", "copy", "--drop")
    assert psql(lab, "SELECT count(*) FROM pg_database WHERE datname = 'preau_copy'") == "0"


def test_point_in_time_restore_brings_back_a_deleted_row(backed_up):
    lab = backed_up
    psql(lab, "DROP DATABASE IF EXISTS pitr_check")
    psql(lab, "CREATE DATABASE pitr_check")
    psql(lab, "CREATE TABLE probe (id int primary key, note text)", "pitr_check")
    psql(lab, "INSERT INTO probe VALUES (1, 'précieux')", "pitr_check")
    time.sleep(2)
    noted = datetime.now(UTC).isoformat(timespec="seconds")
    time.sleep(2)
    psql(lab, "DELETE FROM probe WHERE id = 1", "pitr_check")
    psql(lab, "INSERT INTO probe VALUES (2, 'écrit après le point')", "pitr_check")
    assert psql(lab, "SELECT count(*) FROM probe WHERE id = 1", "pitr_check") == "0"
    # no WAL switch here: the restore archives the WAL up to now itself (a point seconds ago
    # sits in the current segment, which archive_timeout would ship a minute later)
    out = deploy("backup", "restore", "--to", noted, "--yes", timeout=900).stdout
    assert "RTO" in out
    assert psql(lab, "SELECT id, note FROM probe ORDER BY id", "pitr_check") == "1|précieux"
    psql(lab, "DROP DATABASE pitr_check")
    # a full backup of the new timeline, named in the operations log
    entry = operations.verify(operations.read_log(lab))[-1]
    assert entry["command"] == f"backup restore --to {noted}" and entry["outcome"] == "ok"
    assert entry["backup"] and entry["backup"].endswith("F"), entry
    assert backups.listing(lab)["database"][-1]["label"] == entry["backup"]


# pgBackRest runs itself on the repository host by its own path unless told (repo1-host-cmd)
WRAPPER = """#!/bin/sh
case " $* " in *" restore "*) echo "restore refused by the lab test" >&2; exit 1;; esac
exec /usr/bin/pgbackrest.real --repo1-host-cmd=/usr/bin/pgbackrest "$@"
"""


def test_a_failed_restore_keeps_the_app_in_maintenance_and_says_so(backed_up):
    """pgBackRest's restore fails on the db host (a wrapper the test puts in its place, every
    other pgbackrest command goes through): PostgreSQL starts again as it was and the app
    stays in maintenance until an operator has looked."""
    lab = backed_up
    db = lab.hosts_in("db")[0]
    with runner.FabricSession(db, lab) as session:
        session.run(
            db,
            "mv /usr/bin/pgbackrest /usr/bin/pgbackrest.real && "
            f"printf '%s' {shlex.quote(WRAPPER)} > /usr/bin/pgbackrest && "
            "chmod 755 /usr/bin/pgbackrest",
        )
    try:
        result = deploy("backup", "restore", "--to", just_now(), "--yes", check=False)
    finally:
        with runner.FabricSession(db, lab) as session:
            session.run(db, "mv /usr/bin/pgbackrest.real /usr/bin/pgbackrest")
    try:
        said = " ".join(result.stdout.split())
        assert result.returncode == 1 and "restore refused by the lab test" in said
        assert "the app stays in maintenance" in said and "maintenance off" in said
        assert procedures.app_manage(lab, "maintenance status")["maintenance"] is True
    finally:
        procedures.app_manage(lab, "maintenance off")
    assert psql(lab, "SELECT 1") == "1", "PostgreSQL runs again as before"


def just_now() -> str:
    """A time after the module's backup: a restore to it could start."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def test_a_time_before_every_backup_is_refused_before_anything_stops(backed_up):
    result = deploy("backup", "restore", "--to", "2020-01-01T00:00:00+00:00", "--yes", check=False)
    assert result.returncode == 1 and "nothing to restore from" in " ".join(result.stdout.split())
    assert psql(backed_up, "SELECT 1") == "1"


def test_restore_refuses_a_time_without_zone(backed_up):
    result = deploy("backup", "restore", "--to", "2026-01-01T10:00:00", "--yes", check=False)
    assert result.returncode == 1 and "no time zone" in result.stdout
