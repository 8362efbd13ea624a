"""deploy.py bootstrap: from hosts reachable only as root, as a hosting provider hands them
over, to the admin accounts of the inventory, without ever locking the operators out.

Per host, the bastion first and the others through it:
1. its SSH host key is collected and pinned (hostkeys.py; a changed key stops everything);
2. two logins are tried: the connection user (`ansible_user`) with its key + `sudo -n true`,
   and root. A host where the first works and root is refused is already bootstrapped: left
   alone. One where neither works is reported (console access needed);
3. as root, playbooks/bootstrap.yml creates the accounts of `base_admin_users` with their keys
   and sudo rights (the base role's own accounts tasks: converge keeps them as they are);
4. the new way in is checked from the controller (the connection user's key, through the
   bastion, `sudo -n true`). Only when it works are root and password logins turned off (an
   sshd drop-in, reload, not restart), then root's refusal is checked. When the check fails,
   root stays open and the outcome says why.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .. import operations, runner
from ..console import Progress
from ..errors import OpsError
from ..inventory import Host, Inventory
from ..paths import PLAYBOOKS
from . import hostkeys, logins
from .logins import Login, RootAccess

__all__ = ["PLAYBOOK", "Outcome", "RootAccess", "plan", "preflight", "run"]

PLAYBOOK = PLAYBOOKS / "bootstrap.yml"
PASSWORD_ENV = "PREAU_BOOTSTRAP_ROOT_PASSWORD"  # read by the playbook's ansible_password
RELOAD_SECONDS = 15  # how long sshd may take to listen again after its reload
SSHD_DROP_IN = "/etc/ssh/sshd_config.d/00-preau.conf"  # the base role's file, so it wins
LOCKDOWN = """\
# Written by deploy.py bootstrap; the base role's converge replaces it (full hardening).
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
"""
T = TypeVar("T")


@dataclass
class Outcome:
    host: str
    result: str  # bootstrapped | already | failed
    detail: str
    fingerprint: str = ""
    pinned_now: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def plan(admin: Login, root: Login) -> str:
    """What a host needs: `already` (the admin works, root refused), `bootstrap` (root logs
    in: accounts are made or confirmed, then checked, then root turned off), `stuck`."""
    if admin.ok and not root.ok:
        return "already"
    return "bootstrap" if root.ok else "stuck"


def preflight(inv: Inventory, hosts: list[Host]) -> Path:
    """Refuse, before touching a host, an inventory whose connection user is root or not one
    of its admins with a key; return the known_hosts file the keys are pinned in."""
    for host in hosts:
        if host.user == "root":
            raise OpsError(
                f"{host.name}: ansible_user is root",
                "set ansible_user to the deploy account bootstrap creates (one of "
                "base_admin_users); root is only for bootstrap, which connects as root itself",
            )
        admins = host.vars.get("base_admin_users") or []
        keys = [
            key
            for admin in admins
            if admin.get("name") == host.user and admin.get("state", "present") == "present"
            for key in admin.get("ssh_keys") or []
        ]
        if not keys:
            raise OpsError(
                f"{host.name}: base_admin_users has no entry for the connection user "
                f"{host.user!r} with an SSH key",
                "declare it (name, ssh_keys: the public key of ansible_ssh_private_key_file): "
                "bootstrap creates that account and then logs in with it",
            )
    return hostkeys.known_hosts_file(inv, hosts)


def _parallel(function: Callable[[Host], T], hosts: list[Host]) -> list[T]:
    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        return list(pool.map(function, hosts))


def _pin_keys(inv: Inventory, hosts: list[Host], path: Path) -> dict[str, tuple[str, bool]]:
    """{host: (fingerprint, newly pinned)} (the command prints them for the operator)."""
    keys = _parallel(lambda h: hostkeys.collect(h, inv), hosts)
    added = {k.host for k in hostkeys.pin(keys, path)}
    return {k.host: (k.fingerprint, k.host in added) for k in keys}


@contextlib.contextmanager
def _password_for_ansible(access: RootAccess) -> Iterator[dict[str, Any]]:
    """Extra vars of the root connection; a password passes through this process's
    environment only (extra vars are on ansible-playbook's command line)."""
    extra: dict[str, Any] = {"ansible_user": "root", "ansible_become": False}
    if access.key_file:
        extra["ansible_ssh_private_key_file"] = access.key_file
    if access.password is None:
        yield extra
        return
    os.environ[PASSWORD_ENV] = access.password
    try:
        yield {**extra, "ansible_password": "{{ lookup('env', '" + PASSWORD_ENV + "') }}"}
    finally:
        os.environ.pop(PASSWORD_ENV, None)


def _accounts(
    inv: Inventory, hosts: list[Host], access: RootAccess, path: Path, progress: Progress
) -> dict[str, str]:
    """Run playbooks/bootstrap.yml as root on these hosts; {host: error} of those it failed."""
    from .. import converge

    with _password_for_ansible(access) as extra:
        extra["ansible_ssh_common_args"] = shlex.join(
            ["-o", f"UserKnownHostsFile={path}", "-o", "StrictHostKeyChecking=yes"]
        )
        result = converge.run_playbook(
            inv,
            PLAYBOOK,
            limit=",".join(h.name for h in hosts),
            extra_vars=extra,
            progress=progress,
        )
    failed = {}
    for host in hosts:
        done = result.hosts.get(host.name)
        if done is None or done.failed or done.unreachable:
            errors = "; ".join(done.errors) if done else "not reached by Ansible"
            failed[host.name] = f"creating the accounts as root failed: {errors}"
    return failed


def _lockdown(host: Host, inv: Inventory) -> Login:
    """Through the new way in (admin + sudo): root and password logins off, sshd reloaded."""
    script = (
        f"set -e; f={SSHD_DROP_IN}; umask 077; "
        '[ -e "$f" ] && cp -p "$f" "$f.before-bootstrap"; '
        f'printf %s {shlex.quote(LOCKDOWN)} > "$f"; '
        'if ! sshd -t; then [ -e "$f.before-bootstrap" ] && mv "$f.before-bootstrap" "$f" '
        '|| rm -f "$f"; exit 1; fi; rm -f "$f.before-bootstrap"; systemctl reload ssh'
    )
    return logins.as_admin(host, inv, f"sudo -n sh -c {shlex.quote(script)}")


def _answered(attempt: Callable[[], Login]) -> Login:
    """A login tried until sshd answers it (logs in or refuses): sshd re-executes itself on
    a reload, and a connection made meanwhile is refused by the kernel, not by sshd."""
    deadline = time.monotonic() + RELOAD_SECONDS
    while True:
        login = attempt()
        if login.ok or login.methods or time.monotonic() > deadline:
            return login
        time.sleep(0.3)


def _finish(host: Host, inv: Inventory, access: RootAccess) -> tuple[str, str]:
    """Check the new way in, then lock root out and check that too: (result, detail)."""
    check = logins.as_admin(host, inv)
    if not check.ok:
        return "failed", (
            f"root left open: the new way in does not work ({host.user} with "
            f"{host.key_file or 'the default keys'}, sudo -n true): {check.error}. Fix the "
            f"key of {host.user} in base_admin_users (the public half of "
            "ansible_ssh_private_key_file) and run bootstrap again"
        )
    locked = _lockdown(host, inv)
    if not locked.ok:
        return "failed", f"root left open: turning root login off failed: {locked.error}"
    root = _answered(lambda: logins.as_root(host, inv, access))
    if not (root.ok or root.methods):
        return "failed", f"sshd did not answer root's login after the reload: {root.error}"
    if root.ok or root.password_offered:
        return "failed", (
            "sshd still accepts "
            + ("root" if root.ok else "passwords")
            + f" after the reload: another setting wins over {SSHD_DROP_IN} (sshd -T)"
        )
    admin = _answered(lambda: logins.as_admin(host, inv))
    if not admin.ok:
        return "failed", f"the admin login failed after the reload ({admin.error}): use the console"
    return "bootstrapped", f"{host.user} works with sudo; root and password logins refused"


def _phase(
    inv: Inventory, hosts: list[Host], access: RootAccess, path: Path, progress: Progress
) -> list[Outcome]:
    progress.update(f"host keys of {', '.join(h.name for h in hosts)}")
    keys = _pin_keys(inv, hosts, path)
    progress.update("trying the admin and root logins")
    tried = _parallel(lambda h: (logins.as_admin(h, inv), logins.as_root(h, inv, access)), hosts)
    outcomes: dict[str, Outcome] = {}
    todo = []
    for host, (admin, root) in zip(hosts, tried, strict=True):
        step = plan(admin, root)
        if step == "already":
            outcomes[host.name] = Outcome(
                host.name,
                "already",
                f"already bootstrapped: {host.user} works, root refused; nothing changed",
            )
        elif step == "stuck":
            outcomes[host.name] = Outcome(
                host.name,
                "failed",
                (
                    f"neither {host.user} ({admin.error}) nor root ({root.error}) can log in: "
                    "check the keys (or --ask-root-password), or use the provider's console"
                ),
            )
        else:
            todo.append(host)
    if todo:
        progress.update(f"accounts as root on {', '.join(h.name for h in todo)}")
        failed = _accounts(inv, todo, access, path, progress)
        outcomes.update(
            {n: Outcome(n, "failed", f"root left open: {e}") for n, e in failed.items()}
        )
        ready = [h for h in todo if h.name not in failed]
        progress.update(f"checking the new way in on {', '.join(h.name for h in ready)}")
        for host, (result, detail) in zip(
            ready, _parallel(lambda h: _finish(h, inv, access), ready), strict=True
        ):
            outcomes[host.name] = Outcome(host.name, result, detail)
    for outcome in outcomes.values():
        outcome.fingerprint, outcome.pinned_now = keys[outcome.host]
    return [outcomes[h.name] for h in hosts]


def run(inv: Inventory, limit: str | None, access: RootAccess, progress: Progress) -> list[Outcome]:
    """Bootstrap the hosts of `limit` (default: all), the bastion first; one Outcome each.
    An operation (`operations`) without the platform lock: the ops host may not take logins
    yet; its log entry is appended when it does."""
    command = "bootstrap" + (f" --limit {limit}" if limit else "")
    with operations.operation(inv, command, platform_lock=False) as record:
        outcomes = _run(inv, limit, access, progress)
        counts = Counter(o.result for o in outcomes)
        record.detail = ", ".join(f"{n} {result}" for result, n in sorted(counts.items()))
        failed = [o.host for o in outcomes if o.result == "failed"]
        if failed:
            record.failed = f"failed on {', '.join(failed)}"
        return outcomes


def _run(
    inv: Inventory, limit: str | None, access: RootAccess, progress: Progress
) -> list[Outcome]:
    targets = inv.limited(limit)
    jump = runner.bastion(inv)
    first = [jump] if jump is not None else []
    rest = [h for h in targets if jump is None or h.name != jump.name]
    path = preflight(inv, first + rest)
    outcomes = _phase(inv, first, access, path, progress) if first else []
    if outcomes and outcomes[0].result == "failed":
        reason = f"not tried: the bastion {first[0].name} is not bootstrapped"
        return outcomes + [Outcome(h.name, "failed", reason) for h in rest]
    if jump is not None and jump not in targets:
        outcomes = [o for o in outcomes if o.result != "already"]
    return outcomes + (_phase(inv, rest, access, path, progress) if rest else [])
