"""Backup role on a single host (db + app + backup): local repositories, same commands."""

import json


def summary_of(cmd):
    return json.loads(cmd.stdout.strip().splitlines()[-1])


def test_local_repository_owned_by_postgres(host):
    conf = host.file("/etc/pgbackrest/pgbackrest.conf")
    assert conf.group == "postgres" and "repo1-host" not in conf.content_string
    assert "pg1-host" not in conf.content_string
    # no SSH account is needed on a single host
    assert not host.user("pgbackrest").exists


def test_full_backup_and_drill(host):
    assert host.run("systemctl start preau-backup-full.service").rc == 0
    drill = host.run("/usr/local/sbin/preau-restore-drill")
    assert drill.rc == 0, drill.stderr
    assert summary_of(drill)["ok"] is True
    # the production cluster is untouched and still archiving
    assert (
        host.run(
            "runuser -u postgres -- psql -XAtc 'SELECT count(*) FROM pg_stat_archiver WHERE failed_count = 0'"
        ).stdout.strip()
        == "1"
    )


def test_files_backup_local(host):
    run = host.run("/usr/local/sbin/preau-backup files")
    assert run.rc == 0, run.stderr
    assert host.file("/var/lib/borg/bk-single/config").exists


def test_expire_local_repository(host):
    """The host's own repository is local (no append-only key): its expiry runs here as root."""
    assert host.run("/usr/local/sbin/preau-backup files").rc == 0
    run = host.run("/usr/local/sbin/preau-backup expire")
    assert run.rc == 0, run.stderr
    assert summary_of(run)["clients"]["bk-single"]["ok"] is True
    state = json.loads(host.file("/var/lib/preau-backup/borg/bk-single.json").content_string)
    assert state["archives"] and state["transaction"] > 0
