"""BKP-06, BKP-07 and BKP-08: the judgement of the backup accounts' authorized_keys (the role's molecule
scenario checks the lines the role writes; the audit runs the controls on the lab)."""

from __future__ import annotations

from preau_ops.audit.controls.services import (
    borg_key_problems,
    pgbackrest_key_problems,
    wal_check_problems,
)

APPEND_ONLY = (
    'command="borg serve --append-only --restrict-to-path /var/lib/borg/app1",restrict '
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG root@app1 preau-backup"
)


def test_keys_forced_to_append_only_and_their_repository_pass() -> None:
    text = f"# managed\n{APPEND_ONLY}\n\n{APPEND_ONLY.replace('app1', 'app2')}\n"
    assert borg_key_problems(text) == (2, [])
    assert borg_key_problems("") == (0, [])


def test_a_key_that_may_delete_or_reach_other_repositories_fails() -> None:
    without = APPEND_ONLY.replace("--append-only ", "")
    unrestricted = 'command="borg serve --append-only",restrict ssh-ed25519 AAAA root@app3'
    free = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH"
    keys, problems = borg_key_problems("\n".join([APPEND_ONLY, without, unrestricted, free]))
    assert keys == 4
    assert problems == [
        "key 'root@app1 preau-backup' is not forced to `borg serve --append-only`",
        "key 'root@app3' is not restricted to its repository",
        "key 'AAAAC3NzaC1lZDI1…' is not forced to `borg serve --append-only`",
    ]


# BKP-07: pgBackRest's keys, as the role writes them on the backup host (ROLE repo) and on the
# db hosts (ROLE pg), forced to the role's command (backup__pgbackrest_remote).
REMOTE = "/usr/local/sbin/preau-pgbackrest-remote"
FORCED = (
    'command="/usr/local/sbin/preau-pgbackrest-remote repo",restrict '
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG postgres@db1 preau-backup"
)


def test_pgbackrest_keys_forced_to_the_remote_end_of_their_role_pass() -> None:
    assert pgbackrest_key_problems(f"# managed\n{FORCED}\n", REMOTE, "repo") == (1, [])
    assert pgbackrest_key_problems("", REMOTE, "pg") == (0, [])


def test_a_pgbackrest_key_that_is_a_shell_or_of_the_other_role_fails() -> None:
    shell = "restrict ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH postgres@db2 preau-backup"
    other_role = FORCED.replace(" repo", " pg").replace("db1", "db3")
    free = FORCED.replace(",restrict", "").replace("db1", "db4")
    text = "\n".join([FORCED, shell, other_role, free])
    keys, problems = pgbackrest_key_problems(text, REMOTE, "repo")
    assert keys == 4
    assert problems == [
        "key 'postgres@db2 preau-backup' is not forced to "
        "`/usr/local/sbin/preau-pgbackrest-remote repo`",
        "key 'postgres@db3 preau-backup' is not forced to "
        "`/usr/local/sbin/preau-pgbackrest-remote repo`",
        "key 'postgres@db4 preau-backup' is not restricted (restrict: no forwarding, no pty)",
    ]


# BKP-08: the repository's side of WAL archiving, from `preau-backup archive-check`'s metrics.
OK = 'preau_wal_archive_check_success{stanza="preau"}'
LAST = 'preau_wal_archive_check_last_success_timestamp_seconds{stanza="preau"}'


def test_wal_seen_reaching_the_repository_within_the_hour_passes() -> None:
    said, problems = wal_check_problems({OK: 1, LAST: 10_000}, 10_000 + 900)
    assert problems == [] and said.startswith("WAL last seen reaching the repository 15 min ago")


def test_a_failed_stale_or_missing_wal_check_fails() -> None:
    assert wal_check_problems({OK: 0, LAST: 10_000}, 10_000 + 900)[1] == [
        "the last check did not see WAL reach the repository"
    ]
    assert wal_check_problems({OK: 1, LAST: 10_000}, 10_000 + 7200)[1] == [
        "WAL last seen reaching the repository 2.0 h ago (limit 1 h)"
    ]
    said, problems = wal_check_problems({}, 10_000)
    assert said == "no WAL archive check recorded" and len(problems) == 1
