"""A release's actions on one host: what it has, install, canary, check, switch, drain, prune.

On every app host a release is `/srv/preau/releases/<version>/` (venv + collected static
files, owned by root, read-only to the app); its pinned dependencies are one venv per lock file,
`/srv/preau/deps/<the lock's id>-py<X.Y>/`, shared by the releases of that lock (most releases
change the app alone: its wheel is then all they install), one per Python (a host moved from
Debian 12 to 13 has python3 3.13: its releases need venvs of that Python). The `app` role owns the units, users and config,
this package owns the release directories and the `current` symlink. Every command goes
through the runner's sessions (preau_ops.runner); what to do with the answers is decided in
`decisions`.
"""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

from ..console import Progress
from ..errors import OpsError
from ..internal_tls import local_url
from ..inventory import Host
from ..preconditions import DISK_COMMAND, disk_problem
from ..runner import Sessions, json_answer
from . import decisions
from .decisions import HostReleases

BASE = "/srv/preau"
RELEASES = f"{BASE}/releases"
DEPS = f"{BASE}/deps"  # the dependencies' venv per lock file and Python (build.dependencies_id)
# The host's python3 as X.Y, in a shell command (the dependencies' venv is named with it).
PYTHON_VERSION = """$(python3 -c 'import sys; print(*sys.version_info[:2], sep=".")')"""
DEPS_LINK = "preau-deps.pth"  # in a release venv's site-packages: the deps venv's site-packages
CURRENT = f"{BASE}/current"
# Migrations run as this account (role app): the only one but root that reads the schema
# owner's password (/etc/preau/owner.toml); the runtime user `preau` cannot.
MIGRATE_USER = "preau-migrate"
APP_PORT = 8000  # TLS: gunicorn serves the host certificate of the internal PKI (role app)
CANARY_PORT = 8001  # plain HTTP on loopback, for the canary's few seconds
CANARY_UNIT = "preau-canary"
UNIT_FILE = "/etc/systemd/system/preau.service"  # written by the app role
WORKER = "preau-worker.service"  # the job queue's worker (app role), restarted with the app
WORKER_UNIT_FILE = f"/etc/systemd/system/{WORKER}"
DRAIN = "/usr/local/sbin/preau-lb-drain"  # installed on the lb hosts by the nginx role
MIGRATE_TIMEOUT = 1800  # seconds: a data migration may take a while on a big database
RELEASES_SCRIPT = (
    f"readlink {CURRENT} 2>/dev/null | xargs -r basename; echo ---; "
    f'for d in {RELEASES}/*/; do [ -f "$d/.complete" ] && '
    f'echo "$(cat $d/.complete) $(basename $d)"; done 2>/dev/null; true'
)


def say(progress: Progress | None, text: str) -> None:
    if progress is not None:
        progress.update(text)


def unique(hosts: list[Host]) -> list[Host]:
    """Hosts once each, in order (the lb and app groups may share hosts)."""
    return list({h.name: h for h in hosts}.values())


def domain_of(host: Host) -> str:
    return str(host.vars.get("preau_domain", "localhost"))


def host_releases(sessions: Sessions, host: Host | str) -> HostReleases:
    """The release a host serves and the complete ones it has."""
    out = sessions.run(host, f"sh -c {shlex.quote(RELEASES_SCRIPT)}").stdout
    return decisions.parse_host_releases(out)


def refuse_full_disks(sessions: Sessions, hosts: list[Host]) -> None:
    """Stop before any change when a host's disk is nearly full (a release or an upgrade
    needs room, and a full disk breaks them half-way)."""
    problems = [
        problem
        for host in hosts
        if (problem := disk_problem(host, sessions.run(host, DISK_COMMAND).stdout))
    ]
    if problems:
        raise OpsError(
            "disk nearly full: " + "; ".join(problems),
            "free some space (old releases: `deploy.py release` keeps "
            "preau_release_keep of them), then run the command again",
        )


def install(
    sessions: Sessions,
    hosts: list[Host],
    version: str,
    tarball: Path,
    dependencies: str,
    progress: Progress | None = None,
) -> None:
    """Upload and install the release on every host in parallel (pyinfra operations); its
    dependencies (id `dependencies`, the lock's) only where no release has installed them."""
    from pyinfra.api.operation import add_op
    from pyinfra.api.operations import run_ops
    from pyinfra.operations import files, server

    target = f"{RELEASES}/{version}"
    state = sessions.state
    pending = [
        state.inventory.get_host(host.name)
        for host in hosts
        if not sessions.run(host, f"test -f {target}/.complete", check=False).ok
    ]
    if not pending:
        return
    size = tarball.stat().st_size // 1_000_000
    say(progress, f"uploading {size} MB and installing on " + ", ".join(h.name for h in pending))
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
        commands=_install_commands(target, dependencies),
    )
    run_ops(state)
    failed = [h.name for h in pending if h in state.failed_hosts]
    if failed:
        raise OpsError(
            "installing the release failed on " + ", ".join(failed),
            "no host was switched; run with the same version again after fixing",
        )


def reinstall(
    sessions: Sessions,
    host: Host,
    version: str,
    tarball: Path,
    dependencies: str,
    progress: Progress | None = None,
) -> None:
    """The release `version` installed again on a host whose python3 changed (moved to the
    next Debian release): its venvs were made by the old Python. The host's other releases
    lose their `.complete` (their venvs too are the old Python's): a rollback to them is then
    refused there instead of starting a release that cannot import."""
    sessions.run(host, f"rm -f {RELEASES}/*/.complete")
    install(sessions, [host], version, tarball, dependencies, progress)


def _install_commands(target: str, dependencies: str) -> list[str]:
    """Unpack; the dependencies' venv ($deps: DEPS/<the lock's id>-py<the host's python3>)
    once per lock and Python (`.complete` when whole, else made again); the release's venv,
    bare (no pip of its own), sees $deps's packages through a .pth file and gets the app's
    wheel and $deps's scripts (gunicorn, which the units run), whose first line names its
    python; its static files; `.complete` last."""
    venv = f"{target}/venv"
    deps = f'deps="{DEPS}/{dependencies}-py{PYTHON_VERSION}"; '
    purelib = """-c 'import sysconfig; print(sysconfig.get_path("purelib"))'"""
    static_env = f"PREAU_STORAGE_STATIC_ROOT={target}/static PREAU_METRICS_MULTIPROC_DIR="
    scripts = (
        f'{deps}for f in "$deps"/bin/*; do n=$(basename $f); [ -e {venv}/bin/$n ] || '
        f'! head -1 $f | grep -qx "#!$deps/bin/python3" || '
        f"{{ sed '1c#!{venv}/bin/python3' $f > {venv}/bin/$n && chmod 755 {venv}/bin/$n; }}; done"
    )
    return [
        f"cd {target} && rm -rf wheelhouse venv static && tar -xf wheelhouse.tar",
        f'{deps}[ -f "$deps/.complete" ] || {{ rm -rf "$deps" && python3 -m venv "$deps" && '
        f'"$deps/bin/pip" install -q --no-index --find-links {target}/wheelhouse '
        f"--require-hashes -r {target}/wheelhouse/requirements.lock && "
        f'date -u +%Y%m%dT%H%M%SZ > "$deps/.complete"; }}',
        f"python3 -m venv --without-pip {venv}",
        f'{deps}"$deps/bin/python" {purelib} > "$({venv}/bin/python {purelib})/{DEPS_LINK}"',
        f'{deps}"$deps/bin/pip" --python {venv}/bin/python install -q --no-index --no-deps '
        f"{target}/wheelhouse/preau-*.whl",
        scripts,
        f"env {static_env} {venv}/bin/preau-manage collectstatic --noinput -v0",
        f"rm -rf {target}/wheelhouse {target}/wheelhouse.tar",
        f"date -u +%Y%m%dT%H%M%SZ > {target}/.complete",
    ]


def _http_code(
    sessions: Sessions, host: Host, port: int, domain: str, path: str, tls: bool
) -> str | None:
    """None when the path answers 200 on the host's port, else the code seen."""
    proto = "" if path == "/readyz" else "-H 'X-Forwarded-Proto: https' "
    result = sessions.run(
        host,
        f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: {domain}' "
        f"{proto}{local_url(host.name, port, path, tls)}",
        check=False,
    )
    return decisions.http_status(result.ok, result.stdout)


def serves_tls(sessions: Sessions, host: Host) -> bool:
    """Whether the host's gunicorn serves TLS: the app role's unit does since issue #21; on a
    host not converged since (a release before the converge), it still serves plain HTTP."""
    result = sessions.run(host, f"grep -qs -- --certfile {UNIT_FILE} && echo tls", check=False)
    return result.stdout.strip() == "tls"


def check(
    sessions: Sessions,
    host: Host,
    port: int,
    domain: str,
    timeout: float = 40,
    tls: bool | None = None,
    unit: str | None = None,
) -> str | None:
    """None when /readyz and the login page answer 200 on the host; else what failed. Asked
    over TLS when the host's unit serves it (tls None), or as told (the canary: plain). With
    `unit`, a unit that stops meanwhile ends the wait at once, with its last log lines."""
    if tls is None:
        tls = serves_tls(sessions, host)
    deadline = time.monotonic() + timeout
    problem = "no answer"
    while time.monotonic() < deadline:
        code = _http_code(sessions, host, port, domain, "/readyz", tls)
        if code is None:
            code = _http_code(sessions, host, port, domain, "/connexion/", tls)
            if code is None:
                return None
            problem = f"login page answered {code}"
        else:
            problem = f"/readyz answered {code}"
        stopped = None if unit is None else _stopped(sessions, host, unit)
        if stopped:
            return stopped
        time.sleep(0.5)
    return problem


def _stopped(sessions: Sessions, host: Host, unit: str) -> str | None:
    """Why `unit` is no longer running (its state and last log lines), or None."""
    state = sessions.run(host, f"systemctl is-active {unit}", check=False).stdout.strip()
    if state in ("active", "activating", "reloading"):
        return None
    log = sessions.run(
        host,
        f"journalctl -u {unit} -o cat --no-pager | grep -E 'Error|Exception|Reason' | tail -3",
        check=False,
    )
    return f"it exited before answering ({state}): {log.stdout.strip()[-600:] or 'no error logged'}"


def canary(sessions: Sessions, host: Host, version: str, domain: str) -> str | None:
    """Start the release on the canary port, check it, stop it. None when healthy."""
    unit, release_dir = CANARY_UNIT, f"{RELEASES}/{version}"
    sessions.run(
        host,
        f"systemctl stop {unit} 2>/dev/null; systemctl reset-failed {unit} 2>/dev/null; true",
        check=False,
    )
    sessions.run(
        host,
        f"systemd-run --unit {unit} --property=User=preau --property=Group=preau "
        f"--setenv=PREAU_METRICS_MULTIPROC_DIR= "
        f"--setenv=PREAU_STORAGE_STATIC_ROOT={release_dir}/static "
        f"{release_dir}/venv/bin/gunicorn --bind 127.0.0.1:{CANARY_PORT} --workers 1 preau.wsgi",
    )
    try:
        return check(sessions, host, CANARY_PORT, domain, timeout=30, tls=False, unit=unit)
    finally:
        sessions.run(
            host,
            f"systemctl stop {unit}; systemctl reset-failed {unit} 2>/dev/null; true",
            check=False,
        )


@contextlib.contextmanager
def drained(
    sessions: Sessions,
    lbs: list[Host],
    host: Host,
    app_hosts: list[Host],
    progress: Progress | None = None,
    keep_out_on_error: bool = False,
) -> Iterator[bool]:
    """An app host out of every load balancer's upstream for the duration, then back in
    service (left out when the block fails and keep_out_on_error is set).

    Nothing to do for a host that is not an app host, or when it is the only one: its
    restart is then covered by the systemd socket, which queues connections meanwhile."""
    if host.name not in {h.name for h in app_hosts} or len(app_hosts) < 2 or not lbs:
        yield False
        return
    say(progress, f"{host.name}: out of the load balancer")
    for lb in lbs:
        sessions.run(lb, f"{DRAIN} {host.name} on")
    failed = True
    try:
        yield True
        failed = False
    finally:
        if not (failed and keep_out_on_error):
            say(progress, f"{host.name}: back in the load balancer")
            for lb in lbs:
                sessions.run(lb, f"{DRAIN} {host.name} off", check=False)


def point_current(sessions: Sessions, host: Host, version: str) -> None:
    """`current` → version, and the service and the job queue's worker restarted on it.

    With a release in place the units the app role installed are enabled, as the role
    itself does once `current` exists (so the next converge has nothing to change). The
    worker lets its running job finish before it stops (the role's TimeoutStopSec)."""
    sessions.run(
        host,
        f"ln -sfn {RELEASES}/{version} {BASE}/.current.new && "
        f"mv -T {BASE}/.current.new {CURRENT} && "
        "systemctl enable --now preau.socket "
        "$(systemctl list-unit-files 'preau-*.timer' --no-legend | awk '{print $1}') "
        ">/dev/null 2>&1 && systemctl enable preau.service >/dev/null 2>&1 && "
        "systemctl restart preau.service && "
        f"{{ [ ! -f {WORKER_UNIT_FILE} ] || {{ systemctl enable {WORKER} >/dev/null 2>&1 && "
        f"systemctl restart {WORKER}; }}; }}",
    )


def switch(sessions: Sessions, host: Host, version: str, domain: str) -> str | None:
    """Point `current` at version, restart and health-check: the problem, or None."""
    try:
        point_current(sessions, host, version)
    except OpsError as error:  # e.g. the service does not start at all
        return error.message
    return check(sessions, host, APP_PORT, domain)


def restore(sessions: Sessions, host: Host, current: str | None) -> None:
    """`current` back at the release it was (none: the service stopped, no `current`)."""
    if current is None:
        sessions.run(
            host,
            f"systemctl stop preau.service preau.socket {WORKER}; rm -f {CURRENT}",
            check=False,
        )
    else:
        point_current(sessions, host, current)


def remove(sessions: Sessions, host: Host, version: str, check: bool = True) -> None:
    sessions.run(host, f"rm -rf {shlex.quote(f'{RELEASES}/{version}')}", check=check)


# The dependencies' venvs no release links to any more (a release's .pth names its venv's
# site-packages, under DEPS/<id>/).
PRUNE_DEPS = (
    f'for d in {DEPS}/*/; do [ -d "$d" ] || continue; '
    f"cat {RELEASES}/*/venv/lib/python3*/site-packages/{DEPS_LINK} 2>/dev/null | "
    f'grep -qF "$d" || rm -rf "$d"; done'
)


def prune(sessions: Sessions, host: Host, keep: int) -> list[str]:
    """Remove the releases beyond `keep` (decisions.to_prune), then the dependencies' venvs
    none of the others uses; the removed releases."""
    removed = decisions.to_prune(host_releases(sessions, host), keep)
    for version in removed:
        remove(sessions, host, version)
    sessions.run(host, f"sh -c {shlex.quote(PRUNE_DEPS)}")
    return removed


def manage_command(args: str, as_json: bool = True, database: str | None = None) -> str:
    """`preau-manage ARGS --json` (or without --json) of the current release as the app's
    runtime user (its config, its grants), out of any metrics directory: the app's commands
    over SSH; on another database of the same server when told (the copy of a backup,
    procedures.backups.copy)."""
    other = f"PREAU_DATABASE_NAME={shlex.quote(database)} " if database else ""
    return (
        f"cd /tmp && sudo -u preau env PREAU_METRICS_MULTIPROC_DIR= {other}"
        f"{CURRENT}/venv/bin/preau-manage {args}" + (" --json" if as_json else "")
    )


def migrate_command(release_dir: str, phase: str) -> str:
    return (
        f"cd /tmp && sudo -u {MIGRATE_USER} env PREAU_DB_AS_OWNER=1 "
        f"PREAU_METRICS_MULTIPROC_DIR= {release_dir}/venv/bin/preau-manage migrate_phase {phase}"
    )


def rollback_check_command(current: str, previous: str) -> str:
    """The current release's code judges whether PREVIOUS's code can run on the schema: it
    reads the migrations PREVIOUS knows (`known`, or `showmigrations --plan` for a release
    older than `known`) on stdin."""
    as_owner = f"sudo -u {MIGRATE_USER} env PREAU_DB_AS_OWNER=1 PREAU_METRICS_MULTIPROC_DIR= "
    old = f"{RELEASES}/{previous}/venv/bin/preau-manage"
    known = f"({as_owner}{old} migrate_phase known --json || {as_owner}{old} showmigrations --plan)"
    check = (
        f"{as_owner}{RELEASES}/{current}/venv/bin/preau-manage migrate_phase rollback-check "
        "--known - --json"
    )
    return f"cd /tmp && {known} 2>/dev/null | {check}"


def rollback_refusal(sessions: Sessions, host: Host, current: str, previous: str) -> str | None:
    """Why the schema forbids going back to PREVIOUS (a contract migration applied since that
    its code does not know: the refusal names it and the time to restore to), or None."""
    result = sessions.run(host, rollback_check_command(current, previous), check=False)
    if "invalid choice: 'rollback-check'" in result.stderr:
        return None  # CURRENT predates the check: it cannot judge (nor could any tool before)
    answer = json_answer(result, f"the rollback check of {current}")
    if answer.get("rollback") == "ok":
        return None
    return str(answer.get("error") or answer)


def migration_plan(sessions: Sessions, host: Host, version: str) -> list[dict[str, str]]:
    """The migrations VERSION would apply to the database, each with its phase and why
    (`migrate_phase plan` of the app: classified from their operations), applying nothing."""
    command = migrate_command(f"{RELEASES}/{version}", "plan") + " --json"
    result = sessions.run(host, command, check=False, timeout=MIGRATE_TIMEOUT)
    answer = json_answer(result, f"the migration plan of {version}")
    if not result.ok or not answer.get("ok", False):
        raise OpsError(
            f"{host.name}: the migration plan of {version} failed: {answer.get('error', answer)}"
        )
    return list(answer.get("migrations", []))


def migrate(sessions: Sessions, host: Host, version: str, phase: str) -> None:
    """Apply one phase of the release's migrations (app core.migration_phases), as the owner
    role. The owner's password is read from owner.toml by the migrations account, not the
    runtime's."""
    sessions.run(host, migrate_command(f"{RELEASES}/{version}", phase), timeout=MIGRATE_TIMEOUT)
