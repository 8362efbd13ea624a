"""Hosting: converge hosts to what the roles declare (Ansible, through ansible-runner).

One run of playbooks/site.yml with pipelining and one fork per host; progress shows the task
each host is on; the summary gives ok/changed/failed and the duration per host. In check mode
the changed tasks are the drift, listed per host.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import operations
from .console import Progress, console
from .errors import OpsError
from .inventory import Inventory
from .paths import PLAYBOOKS, ROOT
from .runner import ansible_envvars

SITE = PLAYBOOKS / "site.yml"


def _failure(res: dict[str, Any]) -> str:
    """What a failed task said; for a loop ("One or more items failed"), each failed item's."""
    items = [
        f"{item.get('item')}: {_failure(item)}"
        for item in res.get("results") or []
        if isinstance(item, dict) and item.get("failed")
    ]
    said = str(res.get("msg") or res.get("stderr") or "failed").strip()
    return "; ".join(items) if items else said


@dataclass
class HostResult:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: bool = False
    skipped: int = 0
    first: float = 0.0
    last: float = 0.0
    changes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return max(0.0, self.last - self.first)


@dataclass
class RunResult:
    status: str
    rc: int
    hosts: dict[str, HostResult]
    duration: float
    # Seconds per role, as Ansible's profile_roles counts them: each task's time from its start
    # to the next task's, its role's (a role's tasks run from another role count for that one:
    # base's package and after-network tasks; tasks of no role: "(plays)")
    roles: dict[str, float] = field(default_factory=dict)
    # Seconds per task ("role : task", counted as roles are), for the slowest ones (slowest_tasks)
    tasks: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.rc != 0 or any(h.failed or h.unreachable for h in self.hosts.values())

    @property
    def changed(self) -> int:
        return sum(h.changed for h in self.hosts.values())

    def errors(self) -> str:
        """Every host's failed tasks, as one line (an OpsError's message): 'db: task: why; …'."""
        said = [f"{name}: {error}" for name, h in sorted(self.hosts.items()) for error in h.errors]
        said += [f"{name}: unreachable" for name, h in sorted(self.hosts.items()) if h.unreachable]
        return "; ".join(said) or "see ansible-playbook's output"


def mitogen_envvars() -> dict[str, str]:
    """Mitogen's strategy for converges: one persistent Python interpreter per host instead
    of one per task (a no-op converge of the scaled lab: ~40 s instead of ~120 s). The molecule
    scenarios use it too, but base/default (testing.molecule_strategy)."""
    import ansible_mitogen

    plugins = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY_PLUGINS": str(plugins), "ANSIBLE_STRATEGY": "mitogen_linear"}


# How long a host's facts serve later converges. The roles read few facts: the virtualization
# type (base: what a container cannot do) and, when postgresql_memory_mb is 0, the memory
# (postgresql): a host resized within this time is tuned to its former memory until the next
# converge after it (or clear the directory fact_cache_dir names).
FACT_CACHE_SECONDS = 900


def fact_cache_dir(inv: Inventory) -> Path:
    """The facts of this inventory's hosts, kept between runs in the user's cache (never in
    the tree): one directory per inventory and per content of its hosts.yml, so a recreated
    lab with other addresses, a host given a new address or another inventory naming a host
    alike never reads these facts."""
    hosts = inv.path / "hosts.yml"
    digest = hashlib.sha256(str(inv.path.resolve()).encode())
    if hosts.exists():
        digest.update(hosts.read_bytes())
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "preau" / "facts" / digest.hexdigest()[:16]


def forget_facts(inv: Inventory, host: str) -> None:
    """A host's kept facts dropped: the next converge gathers them (after a move to another
    Debian release, the kept ones would still name the old one for FACT_CACHE_SECONDS)."""
    (fact_cache_dir(inv) / host).unlink(missing_ok=True)


def fact_cache_envvars(inv: Inventory) -> dict[str, str]:
    """Ansible's fact cache on disk for FACT_CACHE_SECONDS: with ansible.cfg's gathering =
    smart, a converge within that time skips the base play's fact gathering. What it saves is
    the setup module's run on every host, 0.4 s (prodlike lab) to 1.4 s (scaled) of a no-op
    converge; the gathering's remaining 2 s are the first connection to each host, which the
    next task then makes (profile_tasks, issue #24). Molecule and ansible-lint keep
    ansible.cfg's memory cache: each of their runs gathers."""
    directory = fact_cache_dir(inv)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return {
        "ANSIBLE_CACHE_PLUGIN": "jsonfile",
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(directory),
        "ANSIBLE_CACHE_PLUGIN_TIMEOUT": str(FACT_CACHE_SECONDS),
    }


def _envvars(inv: Inventory) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)  # ansible-playbook lives beside our python
    return {
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_FORCE_COLOR": "False",
        "ANSIBLE_NOCOLOR": "True",
        **mitogen_envvars(),
        **fact_cache_envvars(inv),
        **ansible_envvars(inv),  # the bastion, when the inventory has one
    }


def run_playbook(
    inv: Inventory,
    playbook: Path = SITE,
    *,
    check: bool = False,
    diff: bool = False,
    limit: str | None = None,
    tags: str | None = None,
    extra_vars: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run a playbook against the inventory and collect per-host results; a run that may
    change hosts (not --check) is an operation (`operations`: the platform lock, the log)."""
    args = (inv, playbook, check, diff, limit, tags, extra_vars, progress)
    if check:
        return _run_playbook(*args)
    command = " ".join(
        ["converge"]
        + ([playbook.name] if playbook != SITE else [])
        + ([f"--limit {limit}"] if limit else [])
        + ([f"--tags {tags}"] if tags else [])
    )
    with operations.operation(inv, command) as record:
        result = _run_playbook(*args)
        failed = sorted(name for name, h in result.hosts.items() if h.failed or h.unreachable)
        record.detail = f"{result.changed} change(s) on {len(result.hosts)} host(s)"
        if result.failed:
            record.failed = f"failed on {', '.join(failed) or 'no host (see its output)'}"
        return result


def _run_playbook(
    inv: Inventory,
    playbook: Path,
    check: bool,
    diff: bool,
    limit: str | None,
    tags: str | None,
    extra_vars: dict[str, Any] | None,
    progress: Progress | None,
) -> RunResult:
    import ansible_runner

    if not playbook.exists():
        raise OpsError(f"{playbook} is missing")
    cmdline: list[str] = []
    if inv.vault_password_file:
        cmdline += ["--vault-password-file", str(inv.vault_password_file)]
    if check:
        cmdline.append("--check")
    if diff:
        cmdline.append("--diff")
    if tags:
        cmdline += ["--tags", tags]
    events = _Events(progress)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="preau-runner-") as private:
        runner = ansible_runner.run(
            private_data_dir=private,
            project_dir=str(ROOT),
            playbook=str(playbook),
            inventory=str(inv.path / "hosts.yml"),
            limit=limit,
            forks=max(5, len(inv.hosts)),
            cmdline=" ".join(cmdline) or None,
            extravars=extra_vars or {},
            envvars=_envvars(inv),
            # Not ansible-runner's fact cache (a directory of this run's, removed with it):
            # fact_cache_envvars' names the kept one.
            fact_cache_type="",
            event_handler=events.on_event,
            quiet=True,
            suppress_env_files=True,
        )
        if runner.rc != 0 and not events.hosts:
            tail = "\n".join(runner.stdout.read().splitlines()[-20:])
            raise OpsError(f"ansible-playbook failed before reaching any host:\n{tail}")
    events.roles.stop()
    duration = time.monotonic() - started
    return RunResult(
        runner.status, runner.rc, events.hosts, duration, events.roles.seconds, events.roles.tasks
    )


def roles_line(roles: dict[str, float]) -> str:
    """Where a run's time went, slowest role first: 'base 16.3 s · backup 7.0 s · …'."""
    ranked = sorted(roles.items(), key=lambda item: -item[1])
    return " · ".join(f"{role} {seconds:.1f} s" for role, seconds in ranked)


class _Events:
    """ansible-runner's events of a run: per host (counts, changes, errors) and per role."""

    def __init__(self, progress: Progress | None) -> None:
        self.hosts: dict[str, HostResult] = {}
        self.roles = _RoleClock()
        self.progress = progress

    def on_event(self, event: dict[str, Any]) -> bool:
        data = event.get("event_data") or {}
        name = data.get("host")
        kind = event.get("event", "")
        if kind in ("playbook_on_task_start", "playbook_on_handler_task_start"):
            self.roles.start(data.get("role") or "(plays)", data.get("task", ""))
        elif kind == "playbook_on_stats":
            self.roles.stop()
        if not name or not kind.startswith("runner_on_"):
            if kind == "playbook_on_task_start" and self.progress is not None:
                self.progress.update(data.get("task", ""))
            return True
        result = self.hosts.setdefault(name, HostResult(first=time.monotonic()))
        result.last = time.monotonic()
        res = data.get("res") or {}
        task = data.get("task", "")
        if kind == "runner_on_ok":
            result.ok += 1
            if res.get("changed"):
                result.changed += 1
                result.changes.append(task)
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            result.failed += 1
            result.errors.append(f"{task}: {_failure(res)}")
        elif kind == "runner_on_unreachable":
            result.unreachable = True
            result.errors.append(f"unreachable: {res.get('msg', '')}")
        elif kind == "runner_on_skipped":
            result.skipped += 1
        if self.progress is not None:
            self.progress.update(f"{name}: {task}")
        return True


def slowest_tasks(tasks: dict[str, float], count: int = 10) -> list[tuple[str, float]]:
    """The `count` tasks that took longest (a task run twice, e.g. a handler, counts once
    with its total), slowest first."""
    return sorted(tasks.items(), key=lambda item: -item[1])[:count]


class _RoleClock:
    """Each task's time, from its start to the next one's, added to its role's and its own
    ("role : task")."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.tasks: dict[str, float] = {}
        self._current: tuple[str, str, float] | None = None

    def start(self, role: str, task: str = "") -> None:
        now = time.monotonic()
        self._close(now)
        self._current = (role, task, now)

    def stop(self) -> None:
        self._close(time.monotonic())

    def _close(self, now: float) -> None:
        if self._current is not None:
            role, task, since = self._current
            self.seconds[role] = self.seconds.get(role, 0.0) + now - since
            key = f"{role} : {task}"
            self.tasks[key] = self.tasks.get(key, 0.0) + now - since
            self._current = None


def ping(inv: Inventory, limit: str | None = None) -> dict[str, bool]:
    """Ansible ad-hoc ping of every host: {host: reachable}."""
    import ansible_runner

    with tempfile.TemporaryDirectory(prefix="preau-runner-") as private:
        runner = ansible_runner.run(
            private_data_dir=private,
            host_pattern=limit or "all",
            module="ansible.builtin.ping",
            inventory=str(inv.path / "hosts.yml"),
            envvars=_envvars(inv),
            quiet=True,
            cmdline=(
                f"--vault-password-file {inv.vault_password_file}"
                if inv.vault_password_file
                else None
            ),
            forks=max(5, len(inv.hosts)),
            suppress_env_files=True,
        )
        results: dict[str, bool] = {}
        for event in runner.events:
            data = event.get("event_data") or {}
            if event.get("event") == "runner_on_ok":
                results[data["host"]] = data.get("res", {}).get("ping") == "pong"
            elif event.get("event") in ("runner_on_unreachable", "runner_on_failed"):
                results[data["host"]] = False
    return results


def print_drift(result: RunResult) -> None:
    for name, host in sorted(result.hosts.items()):
        if host.changes:
            console.print(f"[yellow]{name}[/]: {len(host.changes)} change(s) pending")
            for task in host.changes:
                console.print(f"   • {task}")
