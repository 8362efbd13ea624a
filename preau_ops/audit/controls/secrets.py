"""Secrets of the app hosts: the runtime reads only its own database password (issue #16,
item 10). Read-only: file metadata, group lists and, where the account may, `test -r` and a
count of section headers as the runtime user (never a secret's content)."""

from __future__ import annotations

import pytest

from preau_ops.audit.catalogue import Evidence
from preau_ops.audit.remote import Remote
from preau_ops.inventory import Host

from .. import declared

control = pytest.mark.control

OWNER_FILE = "/etc/preau/owner.toml"
RUNTIME_FILE = "/etc/preau/preau.toml"


def _stat(remote: Remote, path: str) -> tuple[int, str, str] | None:
    """(mode, owner, group) of PATH, directly or through the auditor's stat rule; None when
    neither may see it. A missing file fails the control."""
    try:
        seen = remote.stat(path)
    except FileNotFoundError as missing:
        raise AssertionError(f"{path} is missing: {missing}") from None
    if seen is None:
        return None
    mode, owner, group = seen.replace(":", " ").split()
    return int(mode, 8), owner, group


def _readable_by(mode: int, owner: str, group: str, user: str, groups: set[str]) -> bool:
    """What the mode bits grant USER (ACLs aside: the kernel's answer below covers them)."""
    return bool(
        mode & 0o004 or (group in groups and mode & 0o040) or (owner == user and mode & 0o400)
    )


def _as_runtime(remote: Remote, user: str, command: str) -> tuple[int, str] | None:
    """(exit code, output) of COMMAND as the runtime user; None when sudo refuses (auditor)."""
    result = remote.run(f"sudo -n -u {user} {command}")
    if result.rc != 0 and "sudo" in result.stderr:
        return None
    return result.rc, result.stdout.strip()


@control(
    "SECRET-01",
    "The app's runtime user cannot read the schema owner's password",
    "Issue #16 item 10 (least privilege for secrets); ANSSI-BP-028 R50 (sensitive files)",
    groups=("app",),
)
def test_owner_password_not_readable_by_the_runtime(
    host: Host, remote: Remote, evidence: Evidence
) -> None:
    user = declared.var(host, "app_user", "preau")
    groups = set(remote.out(f"id -nG {user}").split())
    evidence(f"{user} is in {', '.join(sorted(groups))}")
    problems = []
    seen = _stat(remote, OWNER_FILE)
    if seen is None:
        evidence(f"{OWNER_FILE}: metadata not visible to this account")
    else:
        mode, owner, group = seen
        evidence(f"{OWNER_FILE} {mode:o} {owner}:{group}")
        if _readable_by(mode, owner, group, user, groups):
            problems.append(f"{OWNER_FILE} ({mode:o} {owner}:{group}) is readable by {user}")
    kernel = _as_runtime(remote, user, f"/usr/bin/test -r {OWNER_FILE}")
    if kernel is None:
        evidence(f"`test -r` as {user}: not allowed to this account (metadata only)")
    else:
        evidence(
            f"`test -r {OWNER_FILE}` as {user}: "
            + ("readable" if kernel[0] == 0 else "not readable")
        )
        if kernel[0] == 0:
            problems.append(f"{user} can read {OWNER_FILE}")
    sections = _as_runtime(remote, user, f"/usr/bin/grep -c '^\\[database_owner\\]' {RUNTIME_FILE}")
    if sections is None:
        evidence(f"{RUNTIME_FILE} as {user}: not readable by this account")
    else:
        evidence(f"[database_owner] sections in {RUNTIME_FILE}: {sections[1] or '?'}")
        if sections[1] != "0":
            problems.append(
                f"{RUNTIME_FILE}, which {user} reads, holds a [database_owner] "
                "section (the owner's password belongs in owner.toml)"
            )
    assert seen is not None or kernel is not None, (
        f"neither {OWNER_FILE}'s metadata nor `test -r` as {user} is allowed to this account"
    )
    assert not problems, "; ".join(problems)
