"""BKP-06's judgement of the borg repositories' authorized_keys (the role's molecule scenario
checks the line the role writes; the audit runs the control on the lab)."""

from __future__ import annotations

from preau_ops.audit.controls.services import borg_key_problems

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
