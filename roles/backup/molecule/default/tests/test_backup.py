"""Backup role: a full backup runs and shows in `pgbackrest info`, a restore drill passes,
borgmatic saves the files, and every run leaves its textfile metrics."""

import json
import os

import testinfra
import testinfra.utils.ansible_runner

INVENTORY_FILE = os.environ["MOLECULE_INVENTORY_FILE"]
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(INVENTORY_FILE)
REPO = testinfra.get_host(
    f"ansible://{RUNNER.get_hosts('backup')[0]}?ansible_inventory={INVENTORY_FILE}"
)
DB = testinfra.get_host(f"ansible://{RUNNER.get_hosts('db')[0]}?ansible_inventory={INVENTORY_FILE}")
TEXTFILE = "/var/lib/prometheus/node-exporter"


def summary_of(cmd):
    """The JSON summary is the last line on stdout."""
    return json.loads(cmd.stdout.strip().splitlines()[-1])


def metric(host, filename, name):
    content = host.file(f"{TEXTFILE}/{filename}").content_string
    values = [line.split()[-1] for line in content.splitlines() if line.startswith(name + "{")]
    assert values, content
    return float(values[0])


def test_keys_generated_on_hosts_and_exchanged():
    assert REPO.file("/var/lib/pgbackrest/.ssh/id_ed25519").mode == 0o600
    assert DB.file("/var/lib/postgresql/.ssh/id_ed25519").user == "postgres"
    db_key = DB.file("/var/lib/postgresql/.ssh/id_ed25519.pub").content_string.split()[1]
    assert db_key in REPO.file("/var/lib/pgbackrest/.ssh/authorized_keys").content_string
    repo_key = REPO.file("/var/lib/pgbackrest/.ssh/id_ed25519.pub").content_string.split()[1]
    assert repo_key in DB.file("/var/lib/postgresql/.ssh/authorized_keys").content_string


def _setting(host, name):
    conf = host.file("/etc/pgbackrest/pgbackrest.conf").content_string
    return next(line.split("=", 1)[1] for line in conf.splitlines() if line.startswith(name + "="))


def test_pgbackrest_keys_only_start_its_remote_end():
    """Each pgBackRest key is forced to preau-pgbackrest-remote of its role: the peer's account
    gives no shell (the backups through these keys pass in the other tests)."""
    forced = 'command="/usr/local/sbin/preau-pgbackrest-remote {}",restrict ssh-ed25519 '
    assert (
        forced.format("repo")
        in REPO.file("/var/lib/pgbackrest/.ssh/authorized_keys").content_string
    )
    assert forced.format("pg") in DB.file("/var/lib/postgresql/.ssh/authorized_keys").content_string
    shell = DB.run(f"runuser -u postgres -- ssh pgbackrest@{_setting(DB, 'repo1-host')} id")
    assert shell.rc == 1 and "refused: not pgBackRest: ['id']" in shell.stderr, shell.stderr
    shell = REPO.run(f"runuser -u pgbackrest -- ssh postgres@{_setting(REPO, 'pg1-host')} id")
    assert shell.rc == 1 and "refused: not pgBackRest: ['id']" in shell.stderr, shell.stderr


def test_repository_encrypted_and_config_private():
    conf = REPO.file("/etc/pgbackrest/pgbackrest.conf")
    assert conf.mode == 0o640 and conf.group == "pgbackrest"
    assert "repo1-cipher-type=aes-256-cbc" in conf.content_string
    # the db host never sees the cipher pass
    assert "cipher-pass" not in DB.file("/etc/pgbackrest/pgbackrest.conf").content_string


def _archive_failures() -> str:
    query = "runuser -u postgres -- psql -XAtc 'SELECT failed_count FROM pg_stat_archiver'"
    return DB.run(query).stdout.strip()


def test_wal_archiving_works():
    """`pgbackrest check` switches a WAL segment and waits for it in the repository, with no
    archiving failure meanwhile. (Failures before the stanza existed are the converge's order:
    PostgreSQL archives from its first run, the repository comes after; a slow run sees some.)"""
    before = _archive_failures()
    check = REPO.run("runuser -u pgbackrest -- pgbackrest --stanza=preau check")
    assert check.rc == 0, check.stderr
    assert _archive_failures() == before


def test_timers_are_scheduled():
    for timer in ("preau-backup-full", "preau-backup-diff", "preau-restore-drill"):
        assert REPO.service(f"{timer}.timer").is_enabled
        assert REPO.service(f"{timer}.timer").is_running
    assert DB.service("preau-backup-files.timer").is_enabled


def test_full_backup_service_and_info():
    run = REPO.run("systemctl start preau-backup-full.service")
    assert run.rc == 0, REPO.run("journalctl -u preau-backup-full.service -n 40 --no-pager").stdout
    info = json.loads(
        REPO.check_output("runuser -u pgbackrest -- pgbackrest --stanza=preau --output=json info")
    )
    assert info[0]["status"]["code"] == 0
    assert any(b["type"] == "full" for b in info[0]["backup"])
    assert info[0]["cipher"] == "aes-256-cbc"
    assert metric(REPO, "preau_backup_database_full.prom", "preau_backup_last_exit_status") == 0
    assert metric(REPO, "preau_backup_database_full.prom", "preau_backup_last_size_bytes") > 0


def test_diff_backup_command_json_summary():
    cmd = REPO.run("/usr/local/sbin/preau-backup diff")
    assert cmd.rc == 0, cmd.stderr
    result = summary_of(cmd)
    assert result["ok"] is True and result["type"] == "database" and result["label"].endswith("D")


def test_restore_drill_passes_and_cleans_up():
    DB.run(
        "runuser -u postgres -- psql -d preau -Xc \"INSERT INTO public.establishments VALUES (3, 'after backup')\""
    )
    run = REPO.run("systemctl start preau-restore-drill.service")
    assert run.rc == 0, REPO.run(
        "journalctl -u preau-restore-drill.service -n 60 --no-pager"
    ).stdout
    assert metric(REPO, "preau_restore_drill.prom", "preau_restore_drill_success") == 1
    assert metric(REPO, "preau_restore_drill.prom", "preau_restore_drill_duration_seconds") > 0
    assert REPO.run("ls -A /var/lib/preau-restore-drill").stdout.strip() == ""
    assert not REPO.socket("tcp://0.0.0.0:54329").is_listening


def test_drill_command_reports_checks():
    """The summary the timer's run (the test above: the same program) wrote to the journal,
    not a second drill (a whole restore: ~30 s of the scenario)."""
    cmd = REPO.run("journalctl -t preau-restore-drill -o cat --no-pager")
    assert cmd.rc == 0, cmd.stderr
    result = summary_of(cmd)
    assert result["ok"] is True and result["rto_seconds"] > 0
    names = {c["name"] for c in result["checks"] if c["ok"]}
    assert {"server answers", "database preau present", "rows in public.establishments"} <= names


def test_drill_fails_on_broken_invariant():
    # a check that cannot hold: the command must say so and exit 1
    settings = REPO.file("/etc/preau-backup.toml").content_string
    assert "public.establishments" in settings
    cmd = REPO.run(
        "sed 's/public.establishments/public.no_such_table/' /etc/preau-backup.toml > /tmp/drill-broken.toml"
        " && /usr/local/sbin/preau-backup drill --config /tmp/drill-broken.toml"
    )
    assert cmd.rc == 1
    assert summary_of(cmd)["ok"] is False
    assert metric(REPO, "preau_restore_drill.prom", "preau_restore_drill_success") == 0
    # last success survives the failure
    assert (
        metric(
            REPO, "preau_restore_drill.prom", "preau_restore_drill_last_success_timestamp_seconds"
        )
        > 0
    )
    REPO.run("rm -f /tmp/drill-broken.toml")


def test_files_backup_with_borgmatic():
    run = DB.run("systemctl start preau-backup-files.service")
    assert run.rc == 0, DB.run("journalctl -u preau-backup-files.service -n 40 --no-pager").stdout
    assert metric(DB, "preau_backup_files.prom", "preau_backup_last_exit_status") == 0
    listing = summary_of(DB.run("/usr/local/sbin/preau-backup list"))
    assert listing["files"], listing
    # the repository is encrypted and holds the media file
    archive = listing["files"][-1]
    files = DB.run(f"borgmatic list --archive {archive} --path srv/preau/shared/media")
    assert "avatar.txt" in files.stdout, files.stdout + files.stderr
    assert REPO.file("/var/lib/borg/bk-db/config").contains("key =")


def test_files_backup_picks_up_directories_created_after_converge():
    DB.run("mkdir -p /srv/preau/shared/later && echo late > /srv/preau/shared/later/late.txt")
    cmd = DB.run("/usr/local/sbin/preau-backup files")
    assert cmd.rc == 0, cmd.stderr
    result = summary_of(cmd)
    assert "/srv/preau/shared/later" in result["sources"]
    files = DB.run(f"borgmatic list --archive {result['archive']} --path srv/preau/shared/later")
    assert "late.txt" in files.stdout, files.stdout + files.stderr


def test_list_shows_database_backups():
    listing = summary_of(REPO.run("/usr/local/sbin/preau-backup list"))
    assert {b["type"] for b in listing["database"]} >= {"full", "diff"}
    assert listing["wal"]["max"]


def test_verify_checks_both_tools():
    repo = summary_of(REPO.run("/usr/local/sbin/preau-backup verify"))
    assert repo["ok"] is True and set(repo["checks"]) == {"pgbackrest check", "pgbackrest verify"}
    client = summary_of(DB.run("/usr/local/sbin/preau-backup verify"))
    assert client["ok"] is True and set(client["checks"]) == {"borgmatic check"}


def test_usage_errors_exit_2():
    assert REPO.run("/usr/local/sbin/preau-backup nonsense").rc == 2
    assert DB.run("/usr/local/sbin/preau-backup full").rc == 2  # not the repository host


def test_settings_are_a_file_the_command_checks():
    settings = REPO.file("/etc/preau-backup.toml")
    assert settings.user == "root" and settings.mode == 0o644
    assert "[drill]" in settings.content_string and "not-secret" not in settings.content_string
    assert summary_of(REPO.run("/usr/local/sbin/preau-backup settings"))["ok"] is True
    cmd = REPO.run(
        "sed 's/^port = /prot = /' /etc/preau-backup.toml > /tmp/typo.toml"
        " && /usr/local/sbin/preau-backup list --config /tmp/typo.toml; rc=$?; rm -f /tmp/typo.toml; exit $rc"
    )
    assert cmd.rc == 2
    assert summary_of(cmd)["error"] == "settings: /tmp/typo.toml: drill.port: missing"


# --- borg: clients append only, the repository host expires ---------------------------------

BORG_REPO = "/var/lib/borg/bk-db"
EXPIRE_STATE = "/var/lib/preau-backup/borg/bk-db.json"
EXPIRE_PROM = "preau_borg_expire_bk-db.prom"
# borg on the client with its own key and repository URL (what an intruder on bk-db holds).
CLIENT_BORG = (
    "export BORG_PASSPHRASE=molecule-borg-passphrase-not-secret"
    ' BORG_RSH="ssh -i /root/.ssh/id_borg_ed25519 -o BatchMode=yes'
    ' -o UserKnownHostsFile=/etc/borgmatic/known_hosts"'
    " REPO=$(grep -o 'ssh://[^\"]*' /etc/borgmatic/config.yaml); borg "
)


# The rollback of roles/backup/README.md ("A client deleted archives"), as root on bk-repo: keep
# a copy, G = the transaction before the client's delete (the last one), never below the
# last expiry's; then the index files and the segments after G go.
ROLLBACK = f"""set -e
cd {BORG_REPO}
cp -al . /var/lib/preau-backup/borg/bk-db.tampered
G=$(tail -n 2 transactions | head -n 1 | sed 's/^transaction \\([0-9]*\\),.*/\\1/')
FLOOR=$(python3 -c 'import json; print(json.load(open("{EXPIRE_STATE}"))["transaction"])')
test "$G" -ge "$FLOOR"
rm index.* hints.* integrity.*
find data -type f | awk -F/ -v g="$G" '$NF > g' | xargs -r rm -v --
"""


def client_rollback():
    """On the client: its cache and its security directory's manifest timestamp are newer
    than the repository rolled back (borg would refuse it as a replay): drop them."""
    repository_id = REPO.check_output(f"sed -n 's/^id = //p' {BORG_REPO}/config")
    return (
        f"rm -rf /root/.cache/borg/{repository_id}"
        f" /root/.config/borg/security/{repository_id}/manifest-timestamp"
    )


def expire():
    cmd = REPO.run("/usr/local/sbin/preau-backup expire")
    return cmd, summary_of(cmd)


def segments():
    return set(REPO.check_output(f"find {BORG_REPO}/data -type f").split())


def test_borg_clients_may_only_append():
    keys = REPO.file("/var/lib/borg/.ssh/authorized_keys").content_string
    (line,) = [line for line in keys.splitlines() if "root@bk-db" in line]
    assert line.startswith(
        'command="borg serve --append-only --restrict-to-path /var/lib/borg/bk-db",restrict '
    )
    assert "\nretention:" not in DB.file("/etc/borgmatic/config.yaml").content_string
    assert REPO.service("preau-backup-expire.timer").is_enabled
    passphrase = REPO.file("/etc/preau-backup.borg-passphrase")
    assert (passphrase.user, passphrase.mode) == ("root", 0o600)
    assert "not-secret" not in REPO.file("/etc/preau-backup.toml").content_string


def test_expire_prunes_and_remembers_the_archives():
    # bk-db's repository holds the archives of the two files backups above
    cmd, result = expire()
    assert cmd.rc == 0, cmd.stderr
    assert result["clients"]["bk-db"]["ok"] is True
    state = REPO.file(EXPIRE_STATE)
    assert (state.user, state.mode) == ("root", 0o600)
    listing = summary_of(DB.run("/usr/local/sbin/preau-backup list"))["files"]
    assert json.loads(state.content_string)["archives"] == listing
    assert metric(REPO, EXPIRE_PROM, "preau_borg_archives_vanished") == 0


def test_an_archive_deleted_by_the_client_is_caught_and_nothing_compacted():
    assert DB.run("/usr/local/sbin/preau-backup files").rc == 0
    oldest = json.loads(REPO.file(EXPIRE_STATE).content_string)["archives"][0]
    before = segments()
    # the client's key deletes the archive: borg says it did (append-only: a new transaction)
    delete = DB.run(CLIENT_BORG + f'delete "$REPO::{oldest}"')
    assert delete.rc == 0, delete.stderr
    cmd, result = expire()
    assert cmd.rc == 1
    assert (result["tampered"], result["clients"]["bk-db"]["vanished"]) == (["bk-db"], [oldest])
    assert oldest in cmd.stderr
    assert metric(REPO, EXPIRE_PROM, "preau_borg_archives_vanished") == 1
    assert before <= segments()  # nothing compacted: the archive's data is still on disk
    # the rollback of roles/backup/README.md: the bad transaction's segments and indexes go
    rollback = REPO.run(ROLLBACK)
    assert rollback.rc == 0, rollback.stdout + rollback.stderr
    assert DB.run(client_rollback()).rc == 0
    assert oldest in summary_of(DB.run("/usr/local/sbin/preau-backup list"))["files"]
    cmd, result = expire()
    assert cmd.rc == 0, cmd.stderr
    assert metric(REPO, EXPIRE_PROM, "preau_borg_archives_vanished") == 0
    # the client backs up again
    assert DB.run("/usr/local/sbin/preau-backup files").rc == 0
