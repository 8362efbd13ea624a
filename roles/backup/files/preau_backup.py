#!/usr/bin/python3
"""Préau backups: pgBackRest (database), borgmatic (files), restore drill.

Usage (as root):
  preau-backup full|diff|incr   pgBackRest backup of the database (on the repository host)
  preau-backup files            borgmatic backup of this host's files (on borgmatic clients;
                                no prune: clients may only append, see `expire`)
  preau-backup expire           on the host of the borg repositories: check that no archive
                                saved by the last expiry vanished (a client deleting through
                                its append-only key), then prune and compact each repository
  preau-backup expire --accept-vanished CLIENT
                                accept CLIENT's vanished archives (checked legitimate), expire
  preau-backup list             the backups in the repositories this host knows about
  preau-backup verify           pgBackRest check + verify (and borgmatic check on clients)
  preau-backup archive-check    on the repository host: does WAL still reach the repository?
                                (`pgbackrest check`: a WAL switch on the database, its segment
                                awaited in the repository; run every 15 min by a timer)
  preau-backup drill            restore the latest database backup into a scratch cluster,
                                check invariants, measure the RTO, clean up
  preau-restore-drill           same as `preau-backup drill`
  preau-backup copy --label L   restore backup L (its end) into a scratch cluster, dump the
                                app's database from it (pg_dump custom format) to COPY_DUMP
                                under the drill directory, remove the cluster: the copy that
                                `deploy.py backup copy` loads into the db host (a merge undone,
                                the rentrée rehearsed)
  preau-backup settings         check the settings file (the role validates it with this)
  --config FILE                 settings to read (default /etc/preau-backup.toml)

Every run logs to stderr (journald under systemd), prints ONE JSON summary line on stdout as
its last line, writes its Prometheus textfile metrics atomically, and exits with
  0 success, 1 failure, 2 usage error, wrong host or unreadable settings,
  75 another run holds the lock.

Installed by the Ansible role `backup` (roles/backup/files/preau_backup.py), which renders the
settings file from its variables. Standard library only: the hosts run Debian's python3.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

SETTINGS_FILE = "/etc/preau-backup.toml"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 75
COMMANDS = (
    *("full", "diff", "incr", "files", "expire", "list", "verify", "drill", "archive-check"),
    *("copy", "settings"),
)
DATABASE_KINDS = ("full", "diff", "incr")
RECOVERY_TYPES = ("default", "immediate")
COPY_DUMP = "copy.dump"  # in the drill directory: one copy at a time (the drill's lock)
LABEL = re.compile(r"^[0-9]{8}-[0-9]{6}F(_[0-9]{8}-[0-9]{6}[DI])?$")  # pgBackRest's labels
LOCK_DIR = "/run/preau-backup"
LOG = logging.getLogger("preau-backup")

Summary = dict[str, Any]
Metrics = dict[str, tuple[float | None, str]]


class Failure(Exception):
    """A step failed; the message says which and why."""


class Stop(Exception):
    """End the run at once with this summary and exit code (wrong host, lock held)."""

    def __init__(self, data: Summary, code: int) -> None:
        super().__init__(data.get("error", ""))
        self.data, self.code = data, code


class SettingsError(Exception):
    """The settings file is missing, not TOML, or a key is missing or of the wrong type."""


# --- settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """An invariant of the restored cluster: `sql` returns a number that must reach `min`."""

    name: str
    database: str
    sql: str
    min: float = 1


@dataclass(frozen=True)
class Drill:
    dir: str
    port: int
    recovery_type: str
    timeout: int
    database: str
    nonempty_tables: tuple[str, ...]
    extra_checks: tuple[Check, ...]


@dataclass(frozen=True)
class BorgRepos:
    """The borg repositories this host holds (one per client) and how the expiry treats them."""

    root: str
    clients: tuple[str, ...]
    state_dir: str
    passphrase_file: str
    keep_daily: int
    keep_weekly: int
    keep_monthly: int

    def repository(self, client: str) -> str:
        return os.path.join(self.root, client)

    def keep_arguments(self) -> list[str]:
        return [
            f"--keep-daily={self.keep_daily}",
            f"--keep-weekly={self.keep_weekly}",
            f"--keep-monthly={self.keep_monthly}",
        ]


@dataclass(frozen=True)
class Settings:
    stanza: str
    repo_owner: str
    pg_bin: str
    textfile_dir: str
    borg_sources: tuple[str, ...]
    drill_config: str
    repo: bool
    borg_client: bool
    borg_repos: bool
    drill: Drill
    repos: BorgRepos


def _kind_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", str: "a string", dict: "a table"}.get(
        type(value), type(value).__name__
    )


_MISSING = object()


class _Table:
    """Typed reads of one TOML table; every key must be read, unknown ones are refused."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise SettingsError(f"{where or 'the file'}: expected a table, got {_kind_name(data)}")
        self.data, self.where, self.read = data, where, set[str]()

    def _get(
        self, key: str, expected: type | tuple[type, ...], label: str, default: Any = _MISSING
    ) -> Any:
        self.read.add(key)
        if key not in self.data:
            if default is _MISSING:
                raise SettingsError(f"{self.where}{key}: missing")
            return default
        value = self.data[key]
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise SettingsError(f"{self.where}{key}: expected {label}, got {_kind_name(value)}")
        return value

    def text(self, key: str, default: Any = _MISSING) -> str:
        value: str = self._get(key, str, "a string", default)
        if not value:
            raise SettingsError(f"{self.where}{key}: must not be empty")
        return value

    def flag(self, key: str) -> bool:
        value: bool = self._get(key, bool, "a boolean")
        return value

    def integer(self, key: str) -> int:
        value: int = self._get(key, int, "an integer")
        return value

    def number(self, key: str, default: float) -> float:
        value: float = self._get(key, (int, float), "a number", default)
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        values: list[Any] = self._get(key, list, "a list of strings")
        if not all(isinstance(v, str) for v in values):
            raise SettingsError(f"{self.where}{key}: expected a list of strings")
        return tuple(values)

    def tables(self, key: str) -> list[_Table]:
        values: list[Any] = self._get(key, list, "a list of tables", [])
        return [_Table(v, f"{self.where}{key}[{i}].") for i, v in enumerate(values)]

    def table(self, key: str) -> _Table:
        self.read.add(key)
        return _Table(self.data.get(key), f"{self.where}{key}.")

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            raise SettingsError(f"{self.where}{unknown[0]}: unknown setting")


def _check(table: _Table, database: str) -> Check:
    check = Check(
        name=table.text("name"),
        sql=table.text("sql"),
        database=table.text("database", database),
        min=table.number("min", 1),
    )
    table.done()
    return check


def _drill(table: _Table) -> Drill:
    database = table.text("database")
    drill = Drill(
        dir=table.text("dir"),
        port=table.integer("port"),
        recovery_type=table.text("recovery_type"),
        timeout=table.integer("timeout"),
        database=database,
        nonempty_tables=table.texts("nonempty_tables"),
        extra_checks=tuple(_check(t, database) for t in table.tables("extra_checks")),
    )
    if drill.recovery_type not in RECOVERY_TYPES:
        raise SettingsError(
            f"{table.where}recovery_type: {drill.recovery_type!r} is not one of "
            + ", ".join(RECOVERY_TYPES)
        )
    table.done()
    return drill


def _borg_repos(table: _Table) -> BorgRepos:
    repos = BorgRepos(
        root=table.text("root"),
        clients=table.texts("clients"),
        state_dir=table.text("state_dir"),
        passphrase_file=table.text("passphrase_file"),
        keep_daily=table.integer("keep_daily"),
        keep_weekly=table.integer("keep_weekly"),
        keep_monthly=table.integer("keep_monthly"),
    )
    table.done()
    return repos


def parse_settings(text: str) -> Settings:
    """Settings from the TOML text the role renders; SettingsError says what is wrong."""
    try:
        top = _Table(tomllib.loads(text), "")
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"not valid TOML: {error}") from error
    roles = top.table("roles")
    settings = Settings(
        stanza=top.text("stanza"),
        repo_owner=top.text("repo_owner"),
        pg_bin=top.text("pg_bin"),
        textfile_dir=top.text("textfile_dir"),
        borg_sources=top.texts("borg_sources"),
        drill_config=top.text("drill_config"),
        repo=roles.flag("repo"),
        borg_client=roles.flag("borg_client"),
        borg_repos=roles.flag("borg_repos"),
        drill=_drill(top.table("drill")),
        repos=_borg_repos(top.table("borg_repos")),
    )
    roles.done()
    top.done()
    return settings


def load_settings(path: str) -> Settings:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise SettingsError(f"cannot read {path}: {error.strerror}") from error
    try:
        return parse_settings(text)
    except SettingsError as error:
        raise SettingsError(f"{path}: {error}") from error


# --- command line --------------------------------------------------------------------------


def parse_args(argv: Sequence[str], program: str) -> argparse.Namespace:
    """The command and the settings file; `preau-restore-drill` means `drill`.

    Raises SystemExit (argparse) on a usage error."""
    args = list(argv)
    if os.path.basename(program) == "preau-restore-drill":
        args = ["drill", *args]
    parser = argparse.ArgumentParser(prog="preau-backup", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--config", default=SETTINGS_FILE, help="settings file (TOML)")
    parser.add_argument(
        "--accept-vanished",
        metavar="CLIENT",
        help="expire: take CLIENT's archives as they are now (its vanished ones were legitimate)",
    )
    parser.add_argument("--label", help="copy: the backup to restore (`preau-backup list`)")
    parsed = parser.parse_args(args)
    if parsed.accept_vanished and parsed.command != "expire":
        parser.error("--accept-vanished goes with expire only")
    if (parsed.command == "copy") != bool(parsed.label):
        parser.error("--label goes with copy, and copy needs it")
    if parsed.label and not LABEL.match(parsed.label):
        parser.error(f"--label {parsed.label!r} is not a pgBackRest backup label")
    return parsed


# --- pure parts: summaries, metrics, checks ------------------------------------------------


def summary(data: Summary, code: int) -> int:
    """Print the one-line JSON summary; return the exit code."""
    print(json.dumps(data, sort_keys=True), flush=True)
    return code


def metrics_text(metrics: Metrics, labels: dict[str, str]) -> str:
    """Prometheus text format of gauges (those whose value is None are left out)."""
    label_text = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    lines = []
    for name, (value, help_text) in metrics.items():
        if value is None:
            continue
        lines += [
            f"# HELP {name} {help_text}",
            f"# TYPE {name} gauge",
            f"{name}{{{label_text}}} {value:.3f}",
        ]
    return "\n".join(lines) + "\n"


def read_metric(path: str, name: str) -> float | None:
    """Previous value of a metric in a textfile (to keep 'last success' across failures)."""
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$")
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                match = pattern.match(line.strip())
                if match:
                    return float(match.group(1))
    except (OSError, ValueError):
        pass
    return None


def last_error(stdout: str | None, stderr: str | None) -> str:
    """': <the last ERROR line>' of a finished command (its cause, for the summary), or ''."""
    lines = [
        line.strip() for line in f"{stdout or ''}\n{stderr or ''}".splitlines() if "ERROR" in line
    ]
    return f": {lines[-1]}" if lines else ""


def backup_metrics(
    finished: float, started: float, status: int, size: float | None, previous_success: float | None
) -> Metrics:
    return {
        "preau_backup_last_run_timestamp_seconds": (finished, "End of the last backup run."),
        "preau_backup_last_success_timestamp_seconds": (
            finished if status == 0 else previous_success,
            "End of the last successful backup.",
        ),
        "preau_backup_last_exit_status": (
            status,
            "Exit status of the last backup run (0 = success).",
        ),
        "preau_backup_last_duration_seconds": (
            finished - started,
            "Duration of the last backup run.",
        ),
        "preau_backup_last_size_bytes": (
            size,
            "Size the last successful backup added to the repository.",
        ),
    }


def archive_check_metrics(finished: float, ok: bool, previous_success: float | None) -> Metrics:
    """The repository's side of WAL archiving. pg_stat_archiver cannot tell: past its queue
    limit pgBackRest's asynchronous archive-push drops WAL and reports it archived, so that a
    dead repository never fills the database's disk; only a segment seen in the repository
    proves archiving works (alert WalNotReachingRepository)."""
    return {
        "preau_wal_archive_check_success": (
            1 if ok else 0,
            "1 when the last check saw a fresh WAL segment reach the repository.",
        ),
        "preau_wal_archive_check_last_success_timestamp_seconds": (
            finished if ok else previous_success,
            "End of the last check that saw a fresh WAL segment reach the repository.",
        ),
    }


def backup_prom_file(labels: dict[str, str]) -> str:
    if labels["type"] == "files":
        return "preau_backup_files.prom"
    return f"preau_backup_database_{labels['kind']}.prom"


def last_database_backup(info: dict[str, Any]) -> dict[str, Any]:
    """label, size_bytes (what it added to the repository), database_bytes of the last backup."""
    last = info.get("backup", [])[-1]
    return {
        "label": last["label"],
        "size_bytes": last["info"]["repository"]["delta"],
        "database_bytes": last["info"]["size"],
    }


def files_archive(create_stdout: str) -> dict[str, Any] | None:
    """archive, size_bytes (deduplicated), original_bytes from `borgmatic create --json`."""
    try:
        archive = json.loads(create_stdout)[0]["archive"]
        stats = archive["stats"]
        return {
            "archive": archive["name"],
            "size_bytes": stats["deduplicated_size"],
            "original_bytes": stats["original_size"],
        }
    except (ValueError, LookupError, TypeError):
        return None


def database_listing(info: dict[str, Any]) -> Summary:
    """The database part of `list`: backups, WAL range, pgBackRest's status message."""
    archive = (info.get("archive") or [{}])[-1]
    return {
        "database": [
            {
                "label": b["label"],
                "type": b["type"],
                "start": b["timestamp"]["start"],
                "stop": b["timestamp"]["stop"],
                "size_bytes": b["info"]["size"],
                "repository_bytes": b["info"]["repository"]["delta"],
            }
            for b in info.get("backup", [])
        ],
        "wal": {"min": archive.get("min"), "max": archive.get("max")},
        "status": info.get("status", {}).get("message"),
    }


def drill_checks(drill: Drill) -> list[Check]:
    """The invariants every drill checks, then the site's extra ones."""
    db = drill.database
    tables = "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
    checks = [
        Check("server answers", "postgres", "SELECT 1"),
        Check(
            f"database {db} present",
            "postgres",
            f"SELECT count(*) FROM pg_database WHERE datname = '{db}'",
        ),
        Check("tables present", db, tables),
    ]
    checks += [
        Check(f"rows in {table}", db, f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1) AS t")
        for table in drill.nonempty_tables
    ]
    return checks + list(drill.extra_checks)


def check_value(returncode: int, stdout: str) -> float | None:
    """The number a check's query printed last, None when it failed or printed none."""
    if returncode != 0:
        return None
    try:
        return float(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


DRILL_POSTGRESQL_CONF = """# restore drill: throw-away cluster, local socket only
port = {port}
listen_addresses = ''
unix_socket_directories = '{socket_dir}'
shared_buffers = 32MB
archive_mode = off
hot_standby = off
logging_collector = off
"""


def restore_arguments(drill: Drill, datadir: str, label: str | None = None) -> list[str]:
    """pgBackRest's restore into the scratch cluster: never archiving into the repository; a
    given backup (`label`) is recovered to its end only (consistent, nothing after it)."""
    recovery_type = "immediate" if label else drill.recovery_type
    args = [
        "restore",
        f"--pg1-path={datadir}",
        f"--type={recovery_type}",
        "--archive-mode=off",
    ]
    if label:
        args.append(f"--set={label}")
    if recovery_type != "default":
        args.append("--target-action=promote")
    return args


def drill_metrics(
    result: Summary, finished: float, rto: float | None, previous_success: float | None
) -> Metrics:
    ok = bool(result["ok"])
    return {
        "preau_restore_drill_success": (1 if ok else 0, "1 if the last restore drill passed."),
        "preau_restore_drill_last_run_timestamp_seconds": (
            finished,
            "End of the last restore drill.",
        ),
        "preau_restore_drill_last_success_timestamp_seconds": (
            finished if ok else previous_success,
            "End of the last successful drill.",
        ),
        "preau_restore_drill_duration_seconds": (
            rto,
            "RTO: restore + recovery until the cluster accepts writes.",
        ),
        "preau_restore_drill_checks_failed": (
            sum(not c["ok"] for c in result["checks"]),
            "Invariant checks that failed.",
        ),
    }


def vanished_archives(saved: Sequence[str] | None, current: Sequence[str]) -> list[str]:
    """The archives the last expiry left in a repository that are no longer there.

    None saved (first run, or an operator accepted the current state): nothing to compare."""
    return sorted(set(saved or ()) - set(current))


def last_transaction(repository_files: Sequence[str]) -> int | None:
    """The repository's last transaction: the N of its index.N file."""
    numbers = [int(name[6:]) for name in repository_files if re.fullmatch(r"index\.\d+", name)]
    return max(numbers, default=None)


def expire_metrics(
    vanished: int, finished: float, ok: bool, previous_success: float | None
) -> Metrics:
    return {
        "preau_borg_archives_vanished": (
            vanished,
            "Archives saved by the last expiry that vanished since (deleted by the client).",
        ),
        "preau_borg_expire_last_success_timestamp_seconds": (
            finished if ok else previous_success,
            "End of the last successful expiry (prune + compact) of the repository.",
        ),
    }


def expire_summary(results: dict[str, Summary]) -> Summary:
    """The expiry's summary: every client's result, those whose archives vanished, those failed."""
    tampered = sorted(client for client, r in results.items() if r.get("vanished"))
    failed = sorted(client for client, r in results.items() if not r["ok"])
    return {
        "command": "expire",
        "ok": not failed,
        "clients": results,
        "tampered": tampered,
        "failed": failed,
    }


# --- the host: commands, lock, files --------------------------------------------------------


def run(
    cmd: list[str],
    user: str | None = None,
    check: bool = True,
    timeout: float | None = None,
    capture: bool = True,
    environment: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command (as `user` if given), log it, return the CompletedProcess.

    `environment` is added to the command's environment and never logged (secrets go there)."""
    env = dict(os.environ, LC_ALL="C.UTF-8", **(environment or {}))
    kwargs: dict[str, Any] = {}
    if user:
        entry = pwd.getpwnam(user)
        env.update(HOME=entry.pw_dir, USER=user, LOGNAME=user)
        kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
    LOG.info("run%s: %s", f" as {user}" if user else "", " ".join(cmd))
    pipe = subprocess.PIPE if capture else None
    proc = subprocess.run(
        cmd,
        env=env,
        text=True,
        timeout=timeout,
        cwd="/",
        stdout=pipe,
        stderr=pipe,
        check=False,
        **kwargs,
    )
    if capture and proc.stderr.strip():
        for line in proc.stderr.strip().splitlines()[-20:]:
            LOG.info("  %s", line)
    if check and proc.returncode != 0:
        raise Failure(f"{cmd[0]} {' '.join(cmd[1:3])} exited with {proc.returncode}")
    return proc


@contextlib.contextmanager
def lock(name: str) -> Iterator[None]:
    """One run of a kind at a time (backups share one lock, the drill has its own)."""
    os.makedirs(LOCK_DIR, exist_ok=True)
    with open(f"{LOCK_DIR}/{name}.lock", "w", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            error = {"command": name, "ok": False, "error": "another run holds the lock"}
            raise Stop(error, EXIT_LOCKED) from None
        yield


def write_metrics(directory: str, filename: str, metrics: Metrics, labels: dict[str, str]) -> None:
    """Write metrics atomically (temporary file in the same directory, then rename)."""
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".preau-", suffix=".tmp", dir=directory)
    with os.fdopen(fd, "w") as handle:
        handle.write(metrics_text(metrics, labels))
    os.chmod(tmp, 0o644)
    os.replace(tmp, os.path.join(directory, filename))


class Host:
    """What this host does for the backups, with the settings the role gave it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def require(self, role: str) -> None:
        if not getattr(self.settings, role):
            error = f"this host is not a {role.replace('_', ' ')} host"
            raise Stop({"ok": False, "error": error}, EXIT_USAGE)

    def pgbackrest(
        self,
        *args: str,
        config: str | None = None,
        check: bool = True,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        cmd = ["pgbackrest", *([f"--config={config}"] if config else [])]
        cmd += [f"--stanza={self.settings.stanza}", *args]
        return run(cmd, user=self.settings.repo_owner, check=check, timeout=timeout)

    def pgbackrest_info(self) -> dict[str, Any]:
        stanzas = json.loads(self.pgbackrest("--output=json", "info").stdout)
        return stanzas[0] if stanzas else {}

    def record_backup(
        self,
        result: Summary,
        labels: dict[str, str],
        started: float,
        status: int,
        size: float | None,
    ) -> int:
        """Write a backup run's metrics (keeping the last success), print the summary."""
        directory, prom = self.settings.textfile_dir, backup_prom_file(labels)
        finished = time.time()
        previous = read_metric(
            os.path.join(directory, prom), "preau_backup_last_success_timestamp_seconds"
        )
        metrics = backup_metrics(finished, started, status, size, previous)
        write_metrics(directory, prom, metrics, labels)
        result["duration_seconds"] = round(finished - started, 1)
        return summary(result, EXIT_OK if status == 0 else EXIT_FAILED)

    # --- database backup (pgBackRest) ---

    def backup_database(self, kind: str) -> int:
        self.require("repo")
        started = time.time()
        result: Summary = {"command": kind, "type": "database", "ok": False}
        size = None
        with lock("backup"):
            proc = self.pgbackrest(f"--type={kind}", "backup", check=False)
            status = proc.returncode
            if status == 0:
                last = last_database_backup(self.pgbackrest_info())
                size = last["size_bytes"]
                result.update(ok=True, **last)
            else:
                cause = last_error(proc.stdout, proc.stderr)
                result["error"] = f"pgbackrest backup exited with {status}{cause}"
        labels = {"type": "database", "kind": kind}
        return self.record_backup(result, labels, started, status, size)

    # --- files backup (borgmatic) ---

    def backup_files(self) -> int:
        self.require("borg_client")
        started = time.time()
        result: Summary = {"command": "files", "type": "files", "ok": False}
        # The directories that exist now (the app may have created one since the last converge).
        sources = [path for path in self.settings.borg_sources if os.path.isdir(path)]
        if not sources:
            raise Failure(f"none of {', '.join(self.settings.borg_sources)} exists")
        result["sources"] = sources
        override = "location.source_directories=" + json.dumps(sources)
        size = None
        with lock("backup"):
            create = run(["borgmatic", "create", "--json", "--override", override], check=False)
            status = create.returncode
            if status == 0:
                archive = files_archive(create.stdout)
                if archive is None:
                    LOG.warning("could not read borgmatic's JSON output")
                else:
                    size = archive["size_bytes"]
                    result.update(archive)
            else:
                result["error"] = f"borgmatic create exited with {status}"
        result["ok"] = status == 0
        labels = {"type": "files", "kind": "files"}
        return self.record_backup(result, labels, started, status, size)

    # --- expiry of the borg repositories (their host only) ---

    def expire(self, accept: str | None) -> int:
        self.require("borg_repos")
        repos = self.settings.repos
        if accept is not None and accept not in repos.clients:
            error = f"--accept-vanished: {accept} is not a client ({', '.join(repos.clients)})"
            raise Stop({"command": "expire", "ok": False, "error": error}, EXIT_USAGE)
        results: dict[str, Summary] = {}
        with lock("expire"):
            passphrase = _read_secret(repos.passphrase_file)
            for client in repos.clients:
                results[client] = Expiry(self, client, passphrase).run(accept == client)
        data = expire_summary(results)
        return summary(data, EXIT_OK if data["ok"] else EXIT_FAILED)

    # --- list / verify ---

    def list_backups(self) -> int:
        result: Summary = {"command": "list", "ok": True}
        if self.settings.repo:
            result.update(database_listing(self.pgbackrest_info()))
        if self.settings.borg_client:
            archives = json.loads(run(["borgmatic", "list", "--json"]).stdout)
            result["files"] = [a["name"] for repo in archives for a in repo.get("archives", [])]
        return summary(result, EXIT_OK)

    def verify(self) -> int:
        result: Summary = {"command": "verify", "ok": True, "checks": {}}
        if self.settings.repo:
            for step in ("check", "verify"):
                ok = self.pgbackrest(step, check=False).returncode == 0
                result["checks"][f"pgbackrest {step}"] = ok
        if self.settings.borg_client:
            check = ["borgmatic", "--verbosity", "1", "check"]
            ok = run(check, check=False, capture=False).returncode == 0
            result["checks"]["borgmatic check"] = ok
        result["ok"] = all(result["checks"].values())
        return summary(result, EXIT_OK if result["ok"] else EXIT_FAILED)

    def archive_check(self) -> int:
        """`pgbackrest check` from the repository host (a WAL switch on the database, its
        segment awaited in the repository for pgBackRest's archive-timeout), as metrics."""
        self.require("repo")
        started = time.time()
        result: Summary = {"command": "archive-check", "ok": False}
        with lock("archive-check"):
            proc = self.pgbackrest("check", check=False)
        finished = time.time()
        result["ok"] = proc.returncode == 0
        if not result["ok"]:
            cause = last_error(proc.stdout, proc.stderr)
            result["error"] = f"pgbackrest check exited with {proc.returncode}{cause}"
        prom = "preau_wal_archive.prom"
        previous = read_metric(
            os.path.join(self.settings.textfile_dir, prom),
            "preau_wal_archive_check_last_success_timestamp_seconds",
        )
        metrics = archive_check_metrics(finished, result["ok"], previous)
        write_metrics(self.settings.textfile_dir, prom, metrics, {"stanza": self.settings.stanza})
        result["duration_seconds"] = round(finished - started, 1)
        return summary(result, EXIT_OK if result["ok"] else EXIT_FAILED)

    # --- restore drill ---

    def restore_drill(self) -> int:
        self.require("repo")
        started = time.time()
        result: Summary = {"command": "drill", "ok": False, "checks": []}
        rto = None
        with lock("drill"):
            rto = Drilling(self, result).run(started)
        finished = time.time()
        prom = "preau_restore_drill.prom"
        previous = read_metric(
            os.path.join(self.settings.textfile_dir, prom),
            "preau_restore_drill_last_success_timestamp_seconds",
        )
        metrics = drill_metrics(result, finished, rto, previous)
        write_metrics(self.settings.textfile_dir, prom, metrics, {"stanza": self.settings.stanza})
        result["rto_seconds"] = round(rto, 1) if rto is not None else None
        result["duration_seconds"] = round(finished - started, 1)
        return summary(result, EXIT_OK if result["ok"] else EXIT_FAILED)

    def copy(self, label: str) -> int:
        """Backup `label` restored into the drill's scratch cluster, its app database dumped to
        COPY_DUMP (replaced), the cluster removed: the dump outlives the run, for the
        controller to load into the db host (`deploy.py backup copy`) and then delete."""
        self.require("repo")
        started = time.time()
        result: Summary = {"command": "copy", "ok": False, "backup": label}
        with lock("drill"):
            Drilling(self, result).copy(label)
        result["duration_seconds"] = round(time.time() - started, 1)
        return summary(result, EXIT_OK if result["ok"] else EXIT_FAILED)


def _read_secret(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().rstrip("\n")
    except OSError as error:
        raise Failure(f"cannot read the passphrase file {path}: {error.strerror}") from error


class Expiry:
    """One client's repository: tamper check, prune, compact, state saved (borg holds its lock)."""

    LOCK_WAIT = "--lock-wait=600"  # a files backup running now: wait for it

    def __init__(self, host: Host, client: str, passphrase: str) -> None:
        self.host, self.client = host, client
        self.repos = host.settings.repos
        self.repository = self.repos.repository(client)
        self.state_file = os.path.join(self.repos.state_dir, f"{client}.json")
        # Nothing may prompt: a relocated or unencrypted repository is refused.
        self.environment = {
            "BORG_PASSPHRASE": passphrase,
            "BORG_RELOCATED_REPO_ACCESS_IS_OK": "no",
            "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "no",
        }

    def borg(self, *args: str) -> subprocess.CompletedProcess[str]:
        """borg as the repository's owner: `borg` for the clients' repositories, root for this
        host's own (local) one."""
        owner = pwd.getpwuid(os.stat(self.repository).st_uid).pw_name
        cmd = ["borg", *args, self.LOCK_WAIT, self.repository]
        return run(cmd, user=owner, environment=self.environment)

    def archives(self) -> list[str]:
        return self.borg("list", "--short").stdout.split()

    def run(self, accept: bool) -> Summary:
        result: Summary = {"ok": False}
        vanished: list[str] = []
        try:
            if not os.path.isfile(os.path.join(self.repository, "config")):
                LOG.warning("%s: no repository at %s yet", self.client, self.repository)
                return {"ok": True, "skipped": "no repository yet"}
            current = self.archives()
            if accept:
                self.accept(current)
            vanished = vanished_archives(self.saved(), current)
            if vanished:
                result.update(vanished=vanished, error="archives vanished: not expired")
                LOG.error(
                    "%s: %d archive(s) saved by the last expiry vanished (deleted through the "
                    "client's key?): %s. Nothing pruned or compacted; see roles/backup/README.md "
                    "(roll back, or `preau-backup expire --accept-vanished %s`)",
                    self.client,
                    len(vanished),
                    ", ".join(vanished),
                    self.client,
                )
            else:
                # The state follows the prune at once: a failed compact must not make the
                # pruned archives look vanished tomorrow.
                self.borg("prune", "--list", *self.repos.keep_arguments())
                kept = self.archives()
                self.save(kept)
                self.borg("compact")
                self.save(kept, last_transaction(os.listdir(self.repository)))
                pruned = sorted(set(current) - set(kept))
                result.update(ok=True, archives=len(kept), pruned=pruned)
        except (Failure, subprocess.TimeoutExpired, OSError, ValueError, LookupError) as error:
            # (LookupError: an owner without a passwd entry, a state file without archives)
            LOG.error("%s: expiry failed: %s", self.client, error)
            result["error"] = str(error)
        self.record(len(vanished), result["ok"])
        return result

    def saved(self) -> list[str] | None:
        try:
            with open(self.state_file, encoding="utf-8") as handle:
                archives: list[str] = json.load(handle)["archives"]
                return archives
        except FileNotFoundError:
            return None

    def save(self, archives: list[str], transaction: int | None = None) -> None:
        """The archives left (and the repository's last transaction once compacted: no
        rollback goes below it, roles/backup/README.md)."""
        state = {"client": self.client, "saved": time.time(), "archives": archives}
        if transaction is not None:
            state["transaction"] = transaction
        os.makedirs(self.repos.state_dir, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".state-", dir=self.repos.state_dir)
        with os.fdopen(fd, "w") as handle:  # mkstemp: 0600
            json.dump(state, handle)
        os.replace(tmp, self.state_file)

    def accept(self, current: list[str]) -> None:
        vanished = vanished_archives(self.saved(), current)
        LOG.warning(
            "%s: the operator accepts the vanished archives: %s",
            self.client,
            ", ".join(vanished) or "none",
        )
        self.save(current)

    def record(self, vanished: int, ok: bool) -> None:
        directory, prom = self.host.settings.textfile_dir, f"preau_borg_expire_{self.client}.prom"
        previous = read_metric(
            os.path.join(directory, prom), "preau_borg_expire_last_success_timestamp_seconds"
        )
        metrics = expire_metrics(vanished, time.time(), ok, previous)
        write_metrics(directory, prom, metrics, {"client": self.client})


class Drilling:
    """One restore drill: a scratch cluster restored, recovered, checked, removed."""

    def __init__(self, host: Host, result: Summary) -> None:
        self.host, self.result = host, result
        self.drill, self.owner = host.settings.drill, host.settings.repo_owner
        self.entry = pwd.getpwnam(self.owner)
        self.workdir = ""

    @property
    def datadir(self) -> str:
        return os.path.join(self.workdir, "data")

    @property
    def pg_ctl(self) -> list[str]:
        return [f"{self.host.settings.pg_bin}/pg_ctl", "-D", self.datadir]

    def run(self, started: float) -> float | None:
        """Restore and check; return the RTO (None when the cluster never opened)."""
        rto = None
        with self.scratch_cluster():
            self.restore()
            rto = self.open_for_writes(started)
            self.check_invariants()
        return rto

    def copy(self, label: str) -> None:
        """Restore backup `label`, dump the app's database to COPY_DUMP (owner only)."""
        dump = os.path.join(self.drill.dir, COPY_DUMP)
        with self.scratch_cluster():
            self.restore(label)
            self.open_for_writes(time.time())
            partial = dump + ".partial"
            command = [f"{self.host.settings.pg_bin}/pg_dump", "-Fc", "-f", partial]
            command += ["-h", self.workdir, "-p", str(self.drill.port), "-U", "postgres"]
            run([*command, self.drill.database], user=self.owner, timeout=self.drill.timeout)
            os.replace(partial, dump)  # never a half-written dump under the announced name
            self.result.update(dump=dump, size_bytes=os.path.getsize(dump), ok=True)
            LOG.info("backup %s dumped to %s", label, dump)

    @contextlib.contextmanager
    def scratch_cluster(self) -> Iterator[None]:
        """A work directory for the scratch cluster; whatever happens inside, the cluster is
        stopped and removed after, and a failure is reported in the result."""
        os.makedirs(self.drill.dir, mode=0o700, exist_ok=True)
        os.chown(self.drill.dir, self.entry.pw_uid, self.entry.pw_gid)
        self.workdir = tempfile.mkdtemp(prefix="drill-", dir=self.drill.dir)
        os.chown(self.workdir, self.entry.pw_uid, self.entry.pw_gid)
        try:
            yield
        except (Failure, subprocess.TimeoutExpired, OSError, ValueError, LookupError) as error:
            self.report_failure(error)
        finally:
            if os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
                stop = [*self.pg_ctl, "-m", "immediate", "-w", "stop"]
                run(stop, user=self.owner, check=False, timeout=120)
            shutil.rmtree(self.workdir, ignore_errors=True)
            LOG.info("scratch cluster removed")

    def restore(self, label: str | None = None) -> None:
        backups = self.host.pgbackrest_info().get("backup", [])
        if not backups:
            raise Failure("the repository holds no backup")
        if label and label not in [b["label"] for b in backups]:
            raise Failure(f"the repository holds no backup {label} (`preau-backup list`)")
        self.result["backup"] = label or backups[-1]["label"]
        LOG.info("restoring backup %s into %s", self.result["backup"], self.datadir)
        restore = restore_arguments(self.drill, self.datadir, label)
        self.host.pgbackrest(
            *restore, config=self.host.settings.drill_config, timeout=self.drill.timeout
        )
        self.write_cluster_files()

    def write_cluster_files(self) -> None:
        # Debian keeps postgresql.conf outside the data directory: write a minimal one, and
        # append the same settings to postgresql.auto.conf so that nothing restored from
        # the production cluster (port, archive_command...) can override them.
        settings = DRILL_POSTGRESQL_CONF.format(port=self.drill.port, socket_dir=self.workdir)
        files = {
            "postgresql.conf": settings,
            "pg_hba.conf": "local all all trust\n",
            "pg_ident.conf": "",
        }
        for name, content in files.items():
            with open(os.path.join(self.datadir, name), "w", encoding="utf-8") as handle:
                handle.write(content)
        with open(
            os.path.join(self.datadir, "postgresql.auto.conf"), "a", encoding="utf-8"
        ) as handle:
            handle.write("\n" + settings)
        for name in files:
            os.chown(os.path.join(self.datadir, name), self.entry.pw_uid, self.entry.pw_gid)

    def psql(self, database: str, sql: str) -> subprocess.CompletedProcess[str]:
        cmd = [f"{self.host.settings.pg_bin}/psql", "-XAt", "-v", "ON_ERROR_STOP=1"]
        cmd += ["-h", self.workdir, "-p", str(self.drill.port), "-U", "postgres"]
        return run([*cmd, "-d", database, "-c", sql], user=self.owner, check=False, timeout=60)

    def open_for_writes(self, started: float) -> float:
        timeout = self.drill.timeout
        LOG.info("starting the scratch cluster on port %s", self.drill.port)
        log = os.path.join(self.workdir, "postgresql.log")
        start = [*self.pg_ctl, "-l", log, "-w", "-t", str(timeout), "start"]
        run(start, user=self.owner, timeout=timeout + 30)
        deadline = time.time() + timeout
        while True:
            state = self.psql("postgres", "SELECT pg_is_in_recovery()")
            if state.returncode == 0 and state.stdout.strip() == "f":
                break
            if time.time() > deadline:
                raise Failure("the scratch cluster did not finish recovery in time")
            time.sleep(1)
        rto = time.time() - started
        LOG.info("scratch cluster open for writes after %.1f s (RTO)", rto)
        return rto

    def check_invariants(self) -> None:
        for check in drill_checks(self.drill):
            out = self.psql(check.database, check.sql)
            value = check_value(out.returncode, out.stdout)
            ok = value is not None and value >= check.min
            state = "ok" if ok else "FAILED"
            LOG.info("check %-40s %s (value %s, min %s)", check.name, state, value, check.min)
            self.result["checks"].append({"name": check.name, "ok": ok, "value": value})
        self.result["ok"] = all(c["ok"] for c in self.result["checks"])

    def report_failure(self, error: Exception) -> None:
        LOG.error("%s failed: %s", self.result["command"], error)
        self.result["error"] = str(error)
        log_file = os.path.join(self.workdir, "postgresql.log")
        if os.path.exists(log_file):
            with open(log_file, encoding="utf-8", errors="replace") as handle:
                for line in handle.readlines()[-20:]:
                    LOG.error("  postgresql: %s", line.rstrip())


# --- entry point ---------------------------------------------------------------------------


def _action(host: Host, args: argparse.Namespace) -> Callable[[], int]:
    command = args.command
    if command in DATABASE_KINDS:
        return lambda: host.backup_database(command)
    actions = {
        "files": host.backup_files,
        "expire": lambda: host.expire(args.accept_vanished),
        "list": host.list_backups,
        "verify": host.verify,
        "drill": host.restore_drill,
        "copy": lambda: host.copy(args.label),
        "archive-check": host.archive_check,
        "settings": lambda: summary({"command": "settings", "ok": True}, EXIT_OK),
    }
    return actions[command]


def main(argv: Sequence[str] | None = None, program: str | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv, program or sys.argv[0])
    except SystemExit:
        return EXIT_USAGE
    failed: Summary = {"command": args.command, "ok": False}
    if os.geteuid() != 0:
        return summary({**failed, "error": "run as root"}, EXIT_USAGE)
    try:
        return _action(Host(load_settings(args.config)), args)()
    except SettingsError as error:
        LOG.error("settings: %s", error)
        return summary({**failed, "error": f"settings: {error}"}, EXIT_USAGE)
    except Stop as stop:
        return summary(stop.data, stop.code)
    except Failure as error:
        LOG.error("%s", error)
        return summary({**failed, "error": str(error)}, EXIT_FAILED)


if __name__ == "__main__":
    sys.exit(main())
