"""The operation layer: every command that changes the platform runs inside `operation()`.

- **One at a time.** The platform lock is a directory on the ops host (the first host of group
  `monitoring`), LOCK_DIR, holding who took it, since when, doing what, from which controller.
  A second operator, on this controller or another, is refused with those facts. It survives
  a reboot of the ops host (`/var/lib`, not `/run`). `deploy.py operations unlock` breaks a
  lock whose operation died, and records that it did.
- **Recorded.** One JSON line per operation (operator, command, inventory, git revision of the
  bundle, start, end, outcome, detail, backup label taken) appended to REMOTE_LOG on the ops
  host, the copy the audit checks, and to LOCAL_LOG on the controller, whatever the outcome.
  Lines are chained: each carries its number and the SHA-256 of the line before it, so an
  edited or deleted line breaks the chain (`verify`); a truncated tail shows against the
  controller's copy. An entry that cannot reach the ops host (bootstrap, before it takes
  logins; the ops host down) waits in PENDING and the next operation appends it.
- **Nested commands** (a converge inside `pki rotate`) run inside the outer operation: one
  lock, one entry.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import functools
import getpass
import hashlib
import json
import shlex
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import OpsError
from .inventory import Host, Inventory
from .paths import ROOT
from .runner import FabricSession

LOCK_DIR = "/var/lib/preau/operation.lock"
REMOTE_LOG = "/var/log/preau/operations.log"
LOCAL_LOG = ROOT / "logs" / "operations.log"
PENDING = ROOT / "logs" / "operations.pending"
_LOCAL_LOCK = ROOT / "logs" / ".operation.lock"
LEFT_LOCK = "left_lock"  # in a pending entry: the token of the lock it may have left behind
GENESIS = "0" * 64  # the `prev` of the first line
LOCK_GROUP = "monitoring"

Entry = dict[str, Any]


@dataclass
class Record:
    """What the running operation tells its log entry: a detail, the backup label it took,
    and `failed` (why) when it ends without an exception but did not succeed (a converge
    with a failed host)."""

    command: str
    detail: str = ""
    backup: str | None = None
    failed: str | None = None
    notes: list[str] = field(default_factory=list)


_current: contextvars.ContextVar[Record | None] = contextvars.ContextVar("operation", default=None)
# How the layer reaches the ops host (tests give a local stand-in)
Session = Callable[[Host, Inventory], FabricSession]
_session: Session = FabricSession


# ------------------------------------------------------------------------------ the chain


def line_hash(line: str) -> str:
    return hashlib.sha256(line.rstrip("\n").encode()).hexdigest()


def chained(entry: Entry, last_line: str) -> str:
    """ENTRY as the line that follows LAST_LINE ("" for the first) in a chained log. The first
    line names the chain (a random id every line repeats): a log begun again shows."""
    previous = json.loads(last_line) if last_line.strip() else None
    seq = int(previous["seq"]) + 1 if previous else 1
    prev = line_hash(last_line) if previous else GENESIS
    chain = previous["chain"] if previous else uuid.uuid4().hex[:16]
    line = {"seq": seq, "prev": prev, "chain": chain, **entry}
    return json.dumps(line, ensure_ascii=False, sort_keys=True)


def verify(text: str) -> list[Entry]:
    """The entries of a chained log; OpsError naming the first line that breaks the chain."""
    entries: list[Entry] = []
    last = ""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            raise _broken(number, "not a JSON line") from None
        expected_prev = line_hash(last) if last else GENESIS
        if not isinstance(entry, dict) or entry.get("seq") != len(entries) + 1:
            raise _broken(number, f"entry number {entry.get('seq')!r}, {len(entries) + 1} due")
        if entry.get("prev") != expected_prev:
            raise _broken(number, "the line before it was changed or removed")
        if entries and entry.get("chain") != entries[0].get("chain"):
            raise _broken(number, "it belongs to another log")
        entries.append(entry)
        last = line
    return entries


def _broken(number: int, why: str) -> OpsError:
    return OpsError(
        f"the operations log is not intact at line {number}: {why}",
        "someone edited or deleted entries: compare with the controllers' logs/operations.log "
        "and the backups of the ops host",
    )


# ------------------------------------------------------------------------------ facts


@functools.cache
def revision() -> str:
    """The bundle's git revision (+dirty with uncommitted changes), or "unknown"."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        )

    head = git("rev-parse", "--short=12", "HEAD")
    if head.returncode != 0:
        return "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head.stdout.strip() + ("+dirty" if dirty else "")


def operator_name(inv: Inventory) -> str:
    for host in inv.hosts.values():
        if host.vars.get("preau_operator"):
            return str(host.vars["preau_operator"])
    return getpass.getuser()


def ops_host(inv: Inventory) -> Host:
    hosts = inv.hosts_in(LOCK_GROUP)
    if not hosts:
        raise OpsError(f"inventory {inv.name} has no host in group {LOCK_GROUP} (the ops host)")
    return hosts[0]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ------------------------------------------------------------------------------ the lock


def holder(inv: Inventory) -> Entry | None:
    """Who holds the platform lock (owner, command, since, controller), or None."""
    host = ops_host(inv)
    with _session(host, inv) as session:
        return _holder(session, host)


def _holder(session: FabricSession, host: Host) -> Entry | None:
    found = session.run(host, f"cat {LOCK_DIR}/owner.json", check=False)
    if not found.ok:
        if session.run(host, f"test -d {LOCK_DIR}", check=False).ok:
            return {"operator": "unknown", "command": "unknown", "since": "unknown"}
        return None
    try:
        owner = json.loads(found.stdout)
    except ValueError:
        owner = None
    return owner if isinstance(owner, dict) else {"operator": "unknown", "command": "unknown"}


def describe(owner: Entry) -> str:
    return (
        f"{owner.get('operator')} is running `{owner.get('command')}` since "
        f"{owner.get('since')} from {owner.get('controller', 'an unknown controller')}"
    )


def _take(session: FabricSession, host: Host, owner: Entry) -> None:
    text = shlex.quote(json.dumps(owner, ensure_ascii=False))
    take = (
        f"install -d -m 0755 {LOCK_DIR.rsplit('/', 1)[0]} && mkdir {LOCK_DIR} && "
        f"printf '%s\\n' {text} > {LOCK_DIR}/owner.json"
    )
    for _attempt in range(3):  # the lock may be released between our two commands
        if session.run(host, take, check=False).ok:
            return
        current = _holder(session, host)
        if current is not None and current.get("token") in _our_dead_locks(host):
            session.run(host, f"rm -rf {LOCK_DIR}")  # ours, left when the ops host went away
            continue
        if current is not None:
            raise OpsError(
                f"another operation holds the platform: {describe(current)}",
                "wait for it to end; if it died, `deploy.py operations unlock` breaks the "
                f"lock and records that (on {host.name}: {LOCK_DIR})",
            )
    raise OpsError(f"could not take the platform lock on {host.name} ({LOCK_DIR})")


def _ours(session: FabricSession, host: Host, token: str) -> bool:
    """The lock is still the one we took (nobody broke it meanwhile)."""
    mine = f"grep -qF {shlex.quote(token)} {LOCK_DIR}/owner.json"
    return session.run(host, mine, check=False).ok


def _owner(operator: str, command: str) -> Entry:
    return {
        "operator": operator,
        "command": command,
        "since": _now(),
        "controller": socket.gethostname(),
        "token": uuid.uuid4().hex,
    }


# ------------------------------------------------------------------------------ the log


def _append(session: FabricSession, host: Host, entries: list[Entry]) -> None:
    """Chain ENTRIES after the ops host's last line; append them there and here."""
    folder = REMOTE_LOG.rsplit("/", 1)[0]
    last = session.run(
        host,
        f"install -d -m 0755 {folder} && touch {REMOTE_LOG} && chmod 0644 {REMOTE_LOG} && "
        f"tail -n 1 {REMOTE_LOG}",
    ).stdout
    lines = []
    for entry in entries:
        last = chained(entry, last)
        lines.append(last)
    text = shlex.quote("\n".join(lines) + "\n")
    session.run(host, f"printf '%s' {text} >> {REMOTE_LOG}")
    LOCAL_LOG.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCAL_LOG, "a") as local:
        local.write("\n".join(lines) + "\n")


def _without(entry: Entry, key: str) -> Entry:
    return {k: v for k, v in entry.items() if k != key}


def pending(host: Host | None = None) -> list[Entry]:
    """Entries waiting for their ops host (that host's only, when given)."""
    if not PENDING.exists():
        return []
    entries = [json.loads(line) for line in PENDING.read_text().splitlines() if line.strip()]
    return [e for e in entries if host is None or e.get("ops_host") == host.name]


def _flush(session: FabricSession, host: Host, entries: list[Entry]) -> None:
    """Append this ops host's pending entries and ENTRIES there; the pending ones of other
    ops hosts (another inventory's) stay."""
    waiting = pending(host)
    if waiting or entries:
        _append(session, host, [_without(e, LEFT_LOCK) for e in waiting] + entries)
    if waiting:
        others = [e for e in pending() if e.get("ops_host") != host.name]
        PENDING.unlink()
        for entry in others:
            _keep_pending(_without(entry, LEFT_LOCK), entry.get(LEFT_LOCK))


def _keep_pending(entry: Entry, lock: str | None = None) -> None:
    """Keep ENTRY for the next operation; with the token of the lock it may have left on the
    ops host (unreachable at the end): the next operation from here removes that lock."""
    PENDING.parent.mkdir(parents=True, exist_ok=True)
    with open(PENDING, "a") as waiting:
        kept = {**entry, LEFT_LOCK: lock} if lock else entry
        waiting.write(json.dumps(kept, ensure_ascii=False, sort_keys=True) + "\n")


def _our_dead_locks(host: Host) -> set[str]:
    return {e[LEFT_LOCK] for e in pending(host) if e.get(LEFT_LOCK)}


def missing_here(remote: list[Entry], host: str) -> list[Entry]:
    """The entries this controller appended to HOST's chain that its log no longer has (a
    truncated tail, which the chain alone cannot show)."""
    if not remote:
        return []
    chain, seqs = remote[0].get("chain"), {e["seq"]: e for e in remote}
    local = LOCAL_LOG.read_text().splitlines() if LOCAL_LOG.exists() else []
    ours = [json.loads(line) for line in local if line.strip()]
    ours = [e for e in ours if e.get("ops_host") == host and e.get("chain") == chain]
    return [e for e in ours if seqs.get(e["seq"]) != e]


def read_log(inv: Inventory) -> str:
    host = ops_host(inv)
    with _session(host, inv) as session:
        return session.run(host, f"cat {REMOTE_LOG} 2>/dev/null || true").stdout


# ------------------------------------------------------------------------------ the layer


@contextlib.contextmanager
def _controller_lock() -> Iterator[None]:
    """One operation at a time from this controller (and its log files written by one)."""
    _LOCAL_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(_LOCAL_LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OpsError(
                "another operation is running from this controller",
                "wait for the other deploy.py to end (ps -ef | grep deploy.py)",
            ) from None
        yield


@contextlib.contextmanager
def operation(inv: Inventory, command: str, *, platform_lock: bool = True) -> Iterator[Record]:
    """Run a state-changing command: the platform lock, then an entry in the operations log
    whatever the outcome. Without `platform_lock` (bootstrap: the ops host may not take
    logins yet) only this controller is locked and the entry is appended at the end if the
    ops host answers by then, else by the next operation."""
    outer = _current.get()
    if outer is not None:  # inside another operation: its lock, its entry
        outer.notes.append(command)
        yield Record(command)
        return
    record = Record(command)
    owner = _owner(operator_name(inv), command)
    host: Host | None = None
    if platform_lock or inv.hosts_in(LOCK_GROUP):
        host = ops_host(inv)
    started = time.monotonic()
    outcome = "failed"
    with _controller_lock():
        if platform_lock and host is not None:
            with _session(host, inv) as session:
                _take(session, host, owner)
                with contextlib.suppress(OpsError):
                    _flush(session, host, [])
        reset = _current.set(record)
        try:
            yield record
            outcome = "failed" if record.failed else "ok"
        except KeyboardInterrupt:
            outcome = "interrupted"
            raise
        except OpsError as exc:
            record.detail = record.detail or exc.message
            raise
        except Exception as exc:
            record.detail = record.detail or f"{type(exc).__name__}: {exc}"
            raise
        finally:
            _current.reset(reset)
            entry = _entry(inv, host, owner, time.monotonic() - started, outcome, record)
            if host is None:  # an inventory without an ops host (a partial one, in tests)
                _keep_pending(entry)
            else:
                _finish(inv, host, owner["token"] if platform_lock else None, entry)


def _entry(
    inv: Inventory, host: Host | None, owner: Entry, seconds: float, outcome: str, record: Record
) -> Entry:
    return {
        "command": owner["command"],
        "operator": owner["operator"],
        "controller": owner["controller"],
        "inventory": inv.name,
        "ops_host": host.name if host else None,
        "revision": revision(),
        "start": owner["since"],
        "end": _now(),
        "seconds": round(seconds, 1),
        "outcome": outcome,
        "detail": "; ".join(filter(None, (record.failed, record.detail)))[:500],
        "backup": record.backup,
        "within": record.notes,
    }


def unlock(inv: Inventory) -> Entry | None:
    """Break the platform lock and record whose it was; None when nothing held it."""
    host = ops_host(inv)
    owner = _owner(operator_name(inv), "operations unlock")
    with _controller_lock(), _session(host, inv) as session:
        current = _holder(session, host)
        if current is None:
            return None
        session.run(host, f"rm -rf {LOCK_DIR}")
        record = Record(owner["command"], detail=f"broke the lock: {describe(current)}")
        entry = _entry(inv, host, owner, 0.0, "ok", record)
        try:
            _flush(session, host, [entry])
        except OpsError:
            _keep_pending(entry)
        return current


def _finish(inv: Inventory, host: Host, token: str | None, entry: Entry) -> None:
    """Append the entry under the lock, then release it; the entry is kept pending when the
    ops host cannot be reached (or, without a lock of ours, is locked by someone else)."""
    try:
        with _session(host, inv) as session:
            if token is None:  # bootstrap: a lock just for the append
                token = uuid.uuid4().hex
                owner = {
                    **_owner(entry["operator"], f"{entry['command']} (its log entry)"),
                    "token": token,
                }
                _take(session, host, owner)
            ours = _ours(session, host, token)
            if not ours:
                entry["detail"] = (entry["detail"] + " (its lock was broken meanwhile)").strip()
            try:
                _flush(session, host, [entry])
            finally:
                if ours:
                    session.run(host, f"rm -rf {LOCK_DIR}", check=False)
    except OpsError:
        _keep_pending(entry, token)
