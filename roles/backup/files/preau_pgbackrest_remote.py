#!/usr/bin/python3
"""preau-pgbackrest-remote ROLE: the forced command of pgBackRest's SSH keys (role backup).

pgBackRest reaches its peer over SSH: the db hosts' postgres runs the repository's end
(archive-push, archive-get: `--remote-type=repo`) as the repository user on the backup host,
and the repository user runs the database's end (backup: `--remote-type=pg`) as postgres on the
db hosts. Without a forced command each key is a shell: a compromised db host could delete every
backup on the backup host, a compromised backup host could run anything as postgres. Here the
key may only start pgBackRest's remote end, of the ROLE the role declared for it, with options
only, and without a shell (exec of a fixed path).

The command pgBackRest sends (SSH_ORIGINAL_COMMAND) is its executable, `--option=value` words
(a value holding a space comes double-quoted), then `COMMAND:remote`, e.g.
`pgbackrest --exec-id=… --remote-type=repo --stanza=preau archive-push:remote`.
Anything else is refused with exit code 1 and one line on stderr (the client's log shows it).
"""

from __future__ import annotations

import os
import re
import shlex
import sys

PGBACKREST = "/usr/bin/pgbackrest"
EXECUTABLES = ("pgbackrest", PGBACKREST)
ROLES = ("pg", "repo")
OPTION = re.compile(r"--[a-z0-9][a-z0-9-]*(=.*)?", re.DOTALL)
REMOTE_COMMAND = re.compile(r"[a-z][a-z-]*:remote")


class Refused(Exception):
    """The command is not pgBackRest's remote end of this key's role."""


def arguments(original: str | None, role: str) -> list[str]:
    """pgBackRest's arguments (without the executable) of the command SSH received, or Refused."""
    if role not in ROLES:
        raise Refused(f"unknown role {role!r} (the key's forced command names pg or repo)")
    if not original:
        raise Refused("no command: this key only runs pgBackRest's remote end (no shell)")
    try:
        words = shlex.split(original)
    except ValueError as error:
        raise Refused(f"unreadable command: {error}") from None
    if len(words) < 2 or words[0] not in EXECUTABLES:
        raise Refused(f"not pgBackRest: {words[:1]}")
    *options, command = words[1:]
    if not REMOTE_COMMAND.fullmatch(command):
        raise Refused(f"not a remote command: {command!r}")
    wrong = [word for word in options if not OPTION.fullmatch(word)]
    if wrong:
        raise Refused(f"not an option: {wrong[0]!r}")
    types = [word.split("=", 1)[-1] for word in options if word.startswith("--remote-type=")]
    if types != [role]:
        raise Refused(f"this key serves --remote-type={role}, asked for {types or 'none'}")
    return [*options, command]


def main(argv: list[str]) -> int:
    role = argv[1] if len(argv) == 2 else ""
    try:
        args = arguments(os.environ.get("SSH_ORIGINAL_COMMAND"), role)
    except Refused as refused:
        print(f"preau-pgbackrest-remote: refused: {refused}", file=sys.stderr)
        return 1
    os.execv(PGBACKREST, [PGBACKREST, *args])
    return 1  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv))
