"""Backups on real hosts: backup now, list, verify, the restore drill, and a point-in-time
restore that brings back a deleted row."""

import time
from datetime import UTC, datetime

import pytest

from preau_ops import runner
from preau_ops.errors import OpsError
from preau_ops.procedures import backups

from .conftest import deploy

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]


def psql(lab, sql: str, database: str = "postgres") -> str:
    db = lab.hosts_in("db")[0]
    with runner.FabricSession(db, lab) as session:
        result = session.run(db, f'sudo -u postgres psql -d {database} -tAc "{sql}"')
    return result.stdout.strip()


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


def test_recent_backup_precondition(backed_up):
    backups.require_recent_backup(backed_up, max_age_hours=26)
    with pytest.raises(OpsError, match="old"):
        backups.require_recent_backup(backed_up, max_age_hours=0.0001)


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
    psql(lab, "SELECT pg_switch_wal()")
    assert psql(lab, "SELECT count(*) FROM probe", "pitr_check") == "0"
    time.sleep(3)  # let archive_command ship the segment
    out = deploy("backup", "restore", "--to", noted, "--yes", timeout=900).stdout
    assert "RTO" in out
    assert psql(lab, "SELECT note FROM probe WHERE id = 1", "pitr_check") == "précieux"
    psql(lab, "DROP DATABASE pitr_check")


def test_restore_refuses_a_time_without_zone(backed_up):
    result = deploy("backup", "restore", "--to", "2026-01-01T10:00:00", "--yes", check=False)
    assert result.returncode == 1 and "no time zone" in result.stdout
