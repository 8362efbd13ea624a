"""preau-pgbackrest-remote, the forced command of pgBackRest's SSH keys (role backup,
files/preau_pgbackrest_remote.py): what it lets through and what it refuses. Backups through it
run on real hosts: molecule (roles/backup) and tests/lab/test_40_backups.py."""

import importlib.util
import os
import subprocess
import sys

import pytest

from preau_ops.paths import ROLES

SCRIPT = ROLES / "backup" / "files" / "preau_pgbackrest_remote.py"
_spec = importlib.util.spec_from_file_location("preau_pgbackrest_remote", SCRIPT)
remote = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(remote)

# What pgBackRest 2.x sends a repository host for archive-push (shape of the lab's).
PUSH = (
    "pgbackrest --exec-id=4242-1a2b3c4d --log-level-console=off --log-level-file=off "
    "--log-level-stderr=error --pg1-path=/var/lib/postgresql/15/main --process=0 "
    "--remote-type=repo --stanza=preau archive-push:remote"
)


def test_pgbackrest_s_remote_end_of_the_key_s_role_passes() -> None:
    assert remote.arguments(PUSH, "repo") == PUSH.split()[1:]
    backup = PUSH.replace("remote-type=repo", "remote-type=pg").replace("archive-push", "backup")
    assert remote.arguments("/usr/bin/" + backup, "pg")[-1] == "backup:remote"
    quoted = PUSH.replace("--process=0", '--lock-path="/tmp/a b"')
    assert "--lock-path=/tmp/a b" in remote.arguments(quoted, "repo")


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (None, "no command"),
        ("", "no command"),
        ("bash", "not pgBackRest"),
        ("rm -rf /var/lib/pgbackrest", "not pgBackRest"),
        ("/tmp/pgbackrest --remote-type=repo archive-push:remote", "not pgBackRest"),
        ("pgbackrest --remote-type=repo expire", "not a remote command"),
        ("pgbackrest --remote-type=repo ; sh archive-push:remote", "not an option"),
        ("pgbackrest --remote-type=repo /etc/shadow archive-push:remote", "not an option"),
        ("pgbackrest --stanza=preau archive-push:remote", "asked for none"),
        (PUSH.replace("remote-type=repo", "remote-type=pg"), "serves --remote-type=repo"),
        (PUSH + " --remote-type=repo", "not a remote command"),
        ('pgbackrest --stanza="preau archive-push:remote', "unreadable"),
    ],
)
def test_anything_else_is_refused(command, says) -> None:
    with pytest.raises(remote.Refused, match=says):
        remote.arguments(command, "repo")


def test_a_key_with_an_unknown_role_is_refused() -> None:
    with pytest.raises(remote.Refused, match="unknown role"):
        remote.arguments(PUSH, "shell")


def test_a_refusal_exits_1_with_one_line_and_runs_nothing(tmp_path) -> None:
    """The script as sshd runs it: a shell's command is refused, nothing is executed."""
    witness = tmp_path / "ran"
    env = dict(os.environ, SSH_ORIGINAL_COMMAND=f"touch {witness}")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "repo"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert done.stderr == "preau-pgbackrest-remote: refused: not pgBackRest: ['touch']\n"
    assert not witness.exists()
