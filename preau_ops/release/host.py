"""Maintenance: shipping the app with pyinfra, host by host, with health checks and rollback.

A release is built once on the controller (a wheelhouse: the app's wheel + every pinned
dependency), so app hosts need no package index. On every app host it becomes
`/srv/preau/releases/<version>/` (venv + collected static files, owned by root, read-only to the
app) — the `app` role owns the units, users and config; this module owns the release
directories and the `current` symlink.

Switching a host: the new release is first started on a canary port and checked (`/readyz`
and a real page) before it takes traffic; then `current` moves and the service restarts through
socket activation (systemd keeps the listening socket, so connections queue instead of failing);
then the host is checked again. A failed check switches the host back and stops the release;
hosts already switched are switched back too, so every host serves the same version.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import OpsError
from ..inventory import Host, Inventory
from ..paths import ROOT
from ..preconditions import DISK_COMMAND, disk_problem

APP_DIR = ROOT / "app"
BASE = "/srv/preau"
RELEASES = f"{BASE}/releases"
CURRENT = f"{BASE}/current"
# Migrations run as this account (role app): the only one but root that reads the schema
# owner's password (/etc/preau/owner.toml); the runtime user `preau` cannot.
MIGRATE_USER = "preau-migrate"
APP_PORT = 8000
CANARY_PORT = 8001


def _connection_data(host: Host) -> dict:
    data = {
        "ssh_hostname": host.address,
        "ssh_port": host.port,
        "ssh_user": host.user,
        "_sudo": host.user != "root",
    }
    if host.key_file:
        data["ssh_key"] = host.key_file
    if host.known_hosts_file:
        data["ssh_known_hosts_file"] = host.known_hosts_file
        data["ssh_strict_host_key_checking"] = "yes"
    return data


@contextlib.contextmanager
def pyinfra_state(inv: Inventory, hosts: list[Host] | None = None, allow_unreachable: bool = False):
    """A connected pyinfra State for the given hosts (default: all), disconnected on exit.

    Unreachable hosts are an error, or with `allow_unreachable` listed in `state.unreachable`.
    """
    from pyinfra.api import Config, State
    from pyinfra.api import Inventory as PyinfraInventory
    from pyinfra.api.connect import connect_all, disconnect_all

    from pyinfra.connectors.sshuserclient.client import get_host_keys

    logging.getLogger("pyinfra").setLevel(logging.ERROR)
    # pyinfra memoizes known_hosts per process: re-read it, a host may have been rebuilt.
    get_host_keys.cache.clear()
    hosts = list(inv.hosts.values()) if hosts is None else hosts
    names = {h.name for h in hosts}
    entries = [(h.name, {**h.vars, **_connection_data(h)}) for h in hosts]
    groups = {
        group: ([m for m in members if m in names], {}) for group, members in inv.groups.items()
    }
    pyinfra_inv = PyinfraInventory((entries, {}), **groups)
    state = State(pyinfra_inv, Config(PARALLEL=max(1, len(hosts)), CONNECT_TIMEOUT=10))
    connect_all(state)
    failed = [h.name for h in hosts if pyinfra_inv.get_host(h.name) not in state.activated_hosts]
    state.unreachable = failed
    try:
        if failed and not allow_unreachable:
            raise OpsError(
                "cannot connect over SSH to: " + ", ".join(failed),
                "nothing was changed; check the host is up (`lab status`, ping)",
            )
        yield state
    finally:
        disconnect_all(state)


def read_fact(inv: Inventory, fact_name: str, hosts: list[Host] | None = None) -> dict:
    """{host: value} of a pyinfra fact, e.g. read_fact(inv, "server.Hostname")."""
    import importlib

    from pyinfra.api.facts import get_facts

    module, _, cls = fact_name.rpartition(".")
    fact = getattr(importlib.import_module(f"pyinfra.facts.{module}"), cls)
    with pyinfra_state(inv, hosts) as state:
        values = get_facts(state, fact)
        return {host.name: value for host, value in values.items()}


def shell(
    state, name: str, command: str, check: bool = True, stdout_only: bool = False
) -> tuple[bool, str]:
    """Run a command (with sudo) on one host of a pyinfra state: (ok, output)."""
    from pyinfra.api import StringCommand

    host = state.inventory.get_host(name)
    ok, output = host.run_shell_command(StringCommand(command), _sudo=host.data._sudo)
    if check and not ok:
        raise OpsError(f"{name}: `{command[:120]}` failed:\n{output.output[-2000:]}")
    return ok, output.stdout if stdout_only else output.output


# ------------------------------------------------------------------------------ build


def source_version(source: Path = APP_DIR) -> str:
    """`<pyproject version>+<hash of the app's files>`: same source, same version."""
    import tomllib

    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    digest = hashlib.sha256()
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = path.relative_to(source)
        if (
            {"tests", "__pycache__", ".cache", "build"} & set(rel.parts)
            or path.suffix == ".pyc"
            or ".egg-info" in str(rel)
        ):
            continue
        digest.update(str(rel).encode() + b"\0" + path.read_bytes())
    return f"{project['version']}+{digest.hexdigest()[:10]}"


def build_wheelhouse(version: str, source: Path = APP_DIR) -> Path:
    """Wheel of the app + every pinned dependency, as one tarball; cached per version."""
    out = ROOT / "wheelhouse"
    tarball = out / f"preau-{version}.tar"
    if tarball.exists():
        return tarball
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="preau-wheels-") as tmp:
        wheels = Path(tmp) / "wheelhouse"
        for command in (
            [
                "wheel",
                "--require-hashes",
                "-r",
                str(source / "requirements.lock"),
                "-w",
                str(wheels),
            ],
            ["wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(wheels)],
        ):
            result = subprocess.run(
                [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *command],
                capture_output=True,
                text=True,
                cwd=tmp,
            )
            if result.returncode != 0:
                raise OpsError("building the wheelhouse failed:\n" + result.stderr[-2000:])
        (wheels / "requirements.lock").write_bytes((source / "requirements.lock").read_bytes())
        partial = tarball.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(wheels, arcname="wheelhouse")
        partial.rename(tarball)
    return tarball


# ----------------------------------------------------------------------- host state


@dataclass
class HostReleases:
    current: str | None
    installed: list[str]  # oldest first

    def previous(self) -> str | None:
        older = [r for r in self.installed if r != self.current]
        if self.current in self.installed:
            older = self.installed[: self.installed.index(self.current)]
        return older[-1] if older else None


def host_releases(state, name: str) -> HostReleases:
    script = (
        f"readlink {CURRENT} 2>/dev/null | xargs -r basename; echo ---; "
        f'for d in {RELEASES}/*/; do [ -f "$d/.complete" ] && '
        f'echo "$(cat $d/.complete) $(basename $d)"; done 2>/dev/null; true'
    )
    _, out = shell(state, name, f"sh -c {shlex.quote(script)}")
    head, _, tail = out.partition("---")
    installed = [line.split(" ", 1)[1] for line in sorted(tail.split("\n")) if " " in line]
    return HostReleases(head.strip() or None, installed)


# ------------------------------------------------------------------------- release


def _install(state, hosts: list[Host], version: str, tarball: Path, progress=None) -> None:
    """Upload and install the release on every host in parallel (pyinfra operations)."""
    from pyinfra.api.operation import add_op
    from pyinfra.api.operations import run_ops
    from pyinfra.operations import files, server

    target = f"{RELEASES}/{version}"
    pending = []
    for host in hosts:
        ok, _ = shell(state, host.name, f"test -f {target}/.complete", check=False)
        if not ok:
            pending.append(state.inventory.get_host(host.name))
    if not pending:
        return
    if progress:
        progress.update(
            f"uploading {tarball.stat().st_size // 1_000_000} MB and installing on "
            + ", ".join(h.name for h in pending)
        )
    static_env = f"PREAU_STORAGE_STATIC_ROOT={target}/static PREAU_METRICS_MULTIPROC_DIR="
    add_op(state, files.directory, name="release directory", path=target, mode="755", host=pending)
    add_op(
        state,
        files.put,
        name="wheelhouse",
        src=str(tarball),
        dest=f"{target}/wheelhouse.tar",
        mode="644",
        host=pending,
    )
    add_op(
        state,
        server.shell,
        name="venv, offline install, static files",
        host=pending,
        commands=[
            f"cd {target} && rm -rf wheelhouse venv static && tar -xf wheelhouse.tar",
            f"python3 -m venv {target}/venv",
            f"{target}/venv/bin/pip install -q --no-index --find-links {target}/wheelhouse "
            f"--require-hashes -r {target}/wheelhouse/requirements.lock",
            f"{target}/venv/bin/pip install -q --no-index --no-deps "
            f"{target}/wheelhouse/preau-*.whl",
            f"env {static_env} {target}/venv/bin/preau-manage collectstatic --noinput -v0",
            f"rm -rf {target}/wheelhouse {target}/wheelhouse.tar",
            f"date -u +%Y%m%dT%H%M%SZ > {target}/.complete",
        ],
    )
    run_ops(state)
    failed = [h.name for h in pending if h in state.failed_hosts]
    if failed:
        raise OpsError(
            "installing the release failed on " + ", ".join(failed),
            "no host was switched; run with the same version again after fixing",
        )


def _check(state, host: Host, port: int, domain: str, timeout: float = 40) -> str | None:
    """None when /readyz and the login page answer 200 on the host; else what failed."""
    deadline = time.monotonic() + timeout
    problem = "no answer"
    while time.monotonic() < deadline:
        ok, out = shell(
            state,
            host.name,
            f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: {domain}' "
            f"http://127.0.0.1:{port}/readyz",
            check=False,
        )
        if ok and out.strip().endswith("200"):
            ok, out = shell(
                state,
                host.name,
                f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: {domain}' "
                f"-H 'X-Forwarded-Proto: https' http://127.0.0.1:{port}/connexion/",
                check=False,
            )
            if ok and out.strip().endswith("200"):
                return None
            problem = f"login page answered {out.strip()[-3:] or 'nothing'}"
        else:
            problem = f"/readyz answered {out.strip()[-3:] or 'nothing'}"
        time.sleep(0.5)
    return problem


def _canary(state, host: Host, version: str, domain: str) -> str | None:
    """Start the release on the canary port, check it, stop it. None when healthy."""
    unit = "preau-canary"
    venv = f"{RELEASES}/{version}/venv"
    shell(
        state,
        host.name,
        f"systemctl stop {unit} 2>/dev/null; systemctl reset-failed {unit} 2>/dev/null; true",
        check=False,
    )
    shell(
        state,
        host.name,
        f"systemd-run --unit {unit} --property=User=preau --property=Group=preau "
        f"--setenv=PREAU_METRICS_MULTIPROC_DIR= "
        f"--setenv=PREAU_STORAGE_STATIC_ROOT={RELEASES}/{version}/static "
        f"{venv}/bin/gunicorn --bind 127.0.0.1:{CANARY_PORT} --workers 1 preau.wsgi",
    )
    try:
        return _check(state, host, CANARY_PORT, domain, timeout=30)
    finally:
        shell(
            state,
            host.name,
            f"systemctl stop {unit}; systemctl reset-failed {unit} 2>/dev/null; true",
            check=False,
        )


DRAIN = "/usr/local/sbin/preau-lb-drain"  # installed on the lb hosts by the nginx role


@contextlib.contextmanager
def drained(
    state,
    lbs: list[Host],
    host: Host,
    app_hosts: list[Host],
    progress=None,
    keep_out_on_error: bool = False,
):
    """An app host out of every load balancer's upstream for the duration, then back in
    service (left out when the block fails and keep_out_on_error is set).

    Nothing to do for a host that is not an app host, or when it is the only one: its
    restart is then covered by the systemd socket, which queues connections meanwhile."""
    if host.name not in {h.name for h in app_hosts} or len(app_hosts) < 2 or not lbs:
        yield False
        return
    if progress:
        progress.update(f"{host.name}: out of the load balancer")
    for lb in lbs:
        shell(state, lb.name, f"{DRAIN} {host.name} on")
    failed = True
    try:
        yield True
        failed = False
    finally:
        if not (failed and keep_out_on_error):
            if progress:
                progress.update(f"{host.name}: back in the load balancer")
            for lb in lbs:
                shell(state, lb.name, f"{DRAIN} {host.name} off", check=False)


def _point_current(state, host: Host, version: str) -> None:
    # With a release in place the units the app role installed are enabled, as the role
    # itself does once `current` exists (so the next converge has nothing to change).
    shell(
        state,
        host.name,
        f"ln -sfn {RELEASES}/{version} {BASE}/.current.new && "
        f"mv -T {BASE}/.current.new {CURRENT} && "
        "systemctl enable --now preau.socket "
        "$(systemctl list-unit-files 'preau-*.timer' --no-legend | awk '{print $1}') "
        ">/dev/null 2>&1 && systemctl enable preau.service >/dev/null 2>&1 && "
        "systemctl restart preau.service",
    )


def _switch(state, host: Host, version: str, domain: str) -> str | None:
    """Point `current` at version, restart and health-check: the problem, or None."""
    try:
        _point_current(state, host, version)
    except OpsError as error:  # e.g. the service does not start at all
        return error.message
    return _check(state, host, APP_PORT, domain)


def _prune(state, host: Host, keep: int) -> list[str]:
    releases = host_releases(state, host.name)
    protected = {releases.current, releases.previous()}
    old = [r for r in releases.installed if r not in protected]
    removed = old[: max(0, len(releases.installed) - keep)]
    for version in removed:
        shell(state, host.name, f"rm -rf {shlex.quote(f'{RELEASES}/{version}')}")
    return removed


@dataclass
class ReleaseReport:
    version: str
    switched: list[str]
    unchanged: list[str]
    removed: dict[str, list[str]]


def refuse_full_disks(state, hosts: list[Host]) -> None:
    """Stop before any change when a host's disk is nearly full (a release or an upgrade
    needs room, and a full disk breaks them half-way)."""
    problems = [
        problem
        for host in hosts
        if (
            problem := disk_problem(
                host, shell(state, host.name, DISK_COMMAND, stdout_only=True)[1]
            )
        )
    ]
    if problems:
        raise OpsError(
            "disk nearly full: " + "; ".join(problems),
            "free some space (old releases: `deploy.py release` keeps "
            "preau_release_keep of them), then run the command again",
        )


def release(inv: Inventory, source: Path = APP_DIR, progress=None) -> ReleaseReport:
    """Ship the app in `source` to every app host, one host at a time."""
    hosts = inv.hosts_in("app")
    if not hosts:
        raise OpsError(f"inventory {inv.name} has no host in group app")
    domain = str(hosts[0].vars.get("preau_domain", "localhost"))
    keep = int(hosts[0].vars.get("preau_release_keep", 5))
    version = source_version(source)
    if progress:
        progress.update(f"building wheelhouse {version}")
    tarball = build_wheelhouse(version, source)
    lbs = inv.hosts_in("lb")
    with pyinfra_state(inv, _unique(hosts + lbs)) as state:
        refuse_full_disks(state, hosts)
        before = {h.name: host_releases(state, h.name) for h in hosts}
        if all(before[h.name].current == version for h in hosts):  # nothing to ship: no-op
            return ReleaseReport(
                version,
                [],
                [h.name for h in hosts],
                {h.name: _prune(state, h, keep) for h in hosts},
            )
        _install(state, hosts, version, tarball, progress)
        if progress:
            progress.update("database migrations (expand)")
        _migrate(state, hosts[0], version, "expand")
        switched, unchanged = [], []
        for host in hosts:
            if before[host.name].current == version:
                unchanged.append(host.name)
                continue
            if progress:
                progress.update(f"{host.name}: checking {version} on the canary port")
            problem = _canary(state, host, version, domain)
            if problem is None:
                with drained(state, lbs, host, hosts, progress):
                    if progress:
                        progress.update(f"{host.name}: switching to {version}")
                    problem = _switch(state, host, version, domain)
                    if problem is not None:  # switched back before it takes traffic again
                        _switch_back(state, [host.name], before, inv, domain)
            if problem is not None:
                restored = _switch_back(state, switched, before, inv, domain, lbs, hosts)
                restored.insert(0, f"{host.name} → {before[host.name].current or 'nothing'}")
                # a release that failed is never a rollback target: its files go
                for app in hosts:
                    shell(
                        state,
                        app.name,
                        f"rm -rf {shlex.quote(f'{RELEASES}/{version}')}",
                        check=False,
                    )
                raise OpsError(
                    f"release {version} failed its health check on {host.name}: {problem}",
                    "switched back: "
                    + (", ".join(restored) or "none")
                    + "; every host serves its previous release",
                )
            switched.append(host.name)
        if progress:
            progress.update("database migrations (contract)")
        try:
            _migrate(state, hosts[0], version, "contract")
        except OpsError as error:
            raise OpsError(
                f"release {version} serves on every app host, but its contract "
                f"migrations failed: {error.message}",
                f"fix it, then on an app host, as root: `{_migrate_command(CURRENT, 'contract')}`",
            )
        removed = {h.name: _prune(state, h, keep) for h in hosts}
    return ReleaseReport(version, switched, unchanged, removed)


def _migrate(state, host: Host, version: str, phase: str) -> None:
    """Apply one phase of the release's migrations (app core.migration_phases), as the owner
    role: expand before the switch, contract once every app host runs the new code. The
    owner's password is read from owner.toml by the migrations account, not the runtime's."""
    shell(state, host.name, _migrate_command(f"{RELEASES}/{version}", phase))


def _migrate_command(release_dir: str, phase: str) -> str:
    return (
        f"cd /tmp && sudo -u {MIGRATE_USER} env PREAU_DB_AS_OWNER=1 "
        f"PREAU_METRICS_MULTIPROC_DIR= {release_dir}/venv/bin/preau-manage migrate_phase {phase}"
    )


def _switch_back(
    state,
    names: list[str],
    before: dict[str, HostReleases],
    inv: Inventory,
    domain: str,
    lbs: list[Host] | None = None,
    app_hosts: list[Host] | None = None,
) -> list[str]:
    """Hosts in `names` back to the release they served before (drained meanwhile when lbs
    are given)."""
    restored = []
    for name in names:
        previous = before[name].current
        with drained(state, lbs or [], inv.hosts[name], app_hosts or []):
            if previous is None:
                shell(
                    state,
                    name,
                    f"systemctl stop preau.service preau.socket; rm -f {CURRENT}",
                    check=False,
                )
            else:
                _point_current(state, inv.hosts[name], previous)
        restored.append(f"{name} → {previous or 'nothing (first release)'}")
    return restored


def _unique(hosts: list[Host]) -> list[Host]:
    """Hosts once each, in order (the lb and app groups may share hosts)."""
    return list({h.name: h for h in hosts}.values())


def rollback(inv: Inventory, progress=None) -> dict[str, str]:
    """Every app host back to its previous release, one at a time, health-checked."""
    hosts = inv.hosts_in("app")
    lbs = inv.hosts_in("lb")
    domain = str(hosts[0].vars.get("preau_domain", "localhost"))
    with pyinfra_state(inv, _unique(hosts + lbs)) as state:
        plan = {}
        for host in hosts:
            releases = host_releases(state, host.name)
            if releases.previous() is None:
                raise OpsError(
                    f"{host.name} has no previous release to roll back to",
                    f"releases there: {', '.join(releases.installed) or 'none'}",
                )
            plan[host.name] = (releases.current, releases.previous())
        for host in hosts:  # the previous release must start before any host goes back to it
            current, previous = plan[host.name]
            if progress:
                progress.update(f"{host.name}: checking {previous} on the canary port")
            problem = _canary(state, host, previous, domain)
            if problem:
                raise OpsError(
                    f"{previous} does not start on {host.name}: {problem}",
                    "nothing was changed; every host serves its current release",
                )
        for host in hosts:
            current, previous = plan[host.name]
            if progress:
                progress.update(f"{host.name}: {current} → {previous}")
            with drained(state, lbs, host, hosts, progress):
                problem = _switch(state, host, previous, domain)
                if problem:
                    _point_current(state, host, current)
            if problem:
                raise OpsError(
                    f"rollback to {previous} failed on {host.name}: {problem}",
                    f"{host.name} was switched back to {current}",
                )
    return {name: previous for name, (_, previous) in plan.items()}


def run_manage(inv: Inventory, args: str) -> dict:
    """Run `preau-manage ARGS --json` on the first app host; the decoded JSON answer."""
    host = inv.hosts_in("app")[0]
    with pyinfra_state(inv, [host]) as state:
        ok, out = shell(
            state,
            host.name,
            f"cd /tmp && sudo -u preau env PREAU_METRICS_MULTIPROC_DIR= "
            f"{CURRENT}/venv/bin/preau-manage {args} --json",
            check=False,
            stdout_only=True,
        )
    try:
        answer = json.loads(out)
    except ValueError:
        raise OpsError(f"`preau-manage {args}` on {host.name} failed:\n{out[-1500:]}")
    if not ok or not answer.get("ok", False):
        raise OpsError(
            f"`preau-manage {args}` on {host.name} failed: {answer.get('error') or out[-1500:]}"
        )
    return answer


# ------------------------------------------------------------------------- patching

# Order of a rolling OS update: what serves users last, one host at a time.
PATCH_ORDER = ("monitoring", "backup", "db", "app", "lb")


def _patch_order(inv: Inventory, limit: str | None) -> list[Host]:
    chosen = {h.name for h in inv.limited(limit)}
    ordered: list[Host] = []
    for group in PATCH_ORDER:
        for host in inv.hosts_in(group):
            if host.name in chosen and host not in ordered:
                ordered.append(host)
    return ordered


def _host_healthy(state, host: Host, domain: str) -> str | None:
    """None when what this host serves answers; else what does not."""
    checks = [
        (
            "ssh",
            "systemctl is-system-running --wait >/dev/null 2>&1; "
            "systemctl --failed --no-legend | head -3",
        )
    ]
    if "db" in host.groups:
        checks.append(("postgresql", "pg_isready -q && echo ok"))
    if "lb" in host.groups:
        checks.append(("nginx", "systemctl is-active nginx"))
    for what, command in checks:
        ok, out = shell(state, host.name, command, check=False, stdout_only=True)
        if what == "ssh" and out.strip():
            return f"failed units: {out.strip()}"
        if what != "ssh" and (not ok or out.strip() not in ("ok", "active")):
            return f"{what} not answering"
    if "app" in host.groups:
        ok, _ = shell(state, host.name, f"test -e {CURRENT}", check=False)
        if ok:
            return _check(state, host, APP_PORT, domain)
    return None


def patch(inv: Inventory, limit: str | None = None, progress=None) -> dict[str, str]:
    """Rolling security updates: one host at a time, services restarted as needrestart says,
    health-checked before moving on; stops at the first unhealthy host."""
    hosts = _patch_order(inv, limit)
    domain = str(next(iter(inv.hosts.values())).vars.get("preau_domain", "localhost"))
    results: dict[str, str] = {}
    lbs, app_hosts = inv.hosts_in("lb"), inv.hosts_in("app")
    with pyinfra_state(inv, _unique(hosts + lbs)) as state:
        refuse_full_disks(state, hosts)
        for host in hosts:
            problem = _host_healthy(state, host, domain)
            if problem:
                raise OpsError(
                    f"{host.name} is not healthy before patching: {problem}",
                    "nothing was patched there; fix it first"
                    + (f" (patched: {', '.join(results)})" if results else ""),
                )
        for host in hosts:
            # an app host is out of the load balancer while it is upgraded and checked
            with drained(state, lbs, host, app_hosts, progress, keep_out_on_error=True) as out:
                if progress:
                    progress.update(f"{host.name}: apt-get update && upgrade")
                shell(
                    state,
                    host.name,
                    "DEBIAN_FRONTEND=noninteractive apt-get update -qq && "
                    "DEBIAN_FRONTEND=noninteractive apt-get -y -qq "
                    "-o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef "
                    "upgrade >/tmp/preau-patch.log 2>&1 || { tail -20 /tmp/preau-patch.log; false; }",
                )
                _, upgraded = shell(
                    state,
                    host.name,
                    "grep -c '^Setting up' /tmp/preau-patch.log || true",
                    check=False,
                    stdout_only=True,
                )
                if progress:
                    progress.update(f"{host.name}: needrestart")
                # -r a: restart the services still running old libraries; -b: batch output
                _, needs = shell(
                    state,
                    host.name,
                    "needrestart -r a -b 2>/dev/null || true",
                    check=False,
                    stdout_only=True,
                )
                kernel = "NEEDRESTART-KSTA: 3" in needs or "NEEDRESTART-KSTA: 2" in needs
                note = f"{upgraded.strip() or 0} package(s) upgraded"
                if out:
                    note += ", out of the load balancer meanwhile"
                if kernel:
                    note += "; a newer kernel waits for a reboot (planned by the operator)"
                problem = _host_healthy(state, host, domain)
                if problem:
                    raise OpsError(
                        f"{host.name} is unhealthy after patching: {problem}",
                        "stopped here; hosts after it were not touched"
                        + (
                            f"; it stays out of the load balancer (`{DRAIN} "
                            f"{host.name} off` on the lb hosts puts it back)"
                            if out
                            else ""
                        ),
                    )
            results[host.name] = note
    return results
