"""One-off procedures run over SSH with Fabric (establishments, backups, diagnostics).

Connections are built from the one inventory, with the same user, key and known hosts as
every other tool; an unknown host key is refused, never silently added. A procedure that
changes something runs inside `operation()`: preconditions first, one operation at a time on
the platform (a lock on the first app host), and an audit-log record on the controller and on
the servers whatever the outcome.
"""
from __future__ import annotations

import contextlib
import getpass
import json
import shlex
import time
from datetime import datetime, timezone

from ..errors import OpsError
from ..inventory import Host, Inventory
from ..paths import ROOT
from ..preconditions import DISK_COMMAND, disk_problem

AUDIT_LOG = ROOT / "logs" / "operations.log"
LOCK_DIR = "/run/lock/preau-operation"


def connect(host: Host):
    """A Fabric Connection to an inventory host."""
    import paramiko
    from fabric import Connection

    kwargs = {"look_for_keys": host.key_file is None, "allow_agent": host.key_file is None}
    if host.key_file:
        kwargs["key_filename"] = host.key_file
    connection = Connection(host=host.address, user=host.user, port=host.port,
                            connect_kwargs=kwargs, connect_timeout=10)
    connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    if host.known_hosts_file:
        connection.client.load_host_keys(host.known_hosts_file)
    return connection


def run(connection, command: str, host: Host, sudo: bool = True, check: bool = True):
    """Run a command on a connected host (as root by default); an OpsError names the host."""
    try:
        if sudo and host.user != "root":
            result = connection.sudo(f"sh -c {shlex.quote(command)}", hide=True, warn=True,
                                     in_stream=False)
        else:
            result = connection.run(command, hide=True, warn=True, in_stream=False)
    except OpsError:
        raise
    except Exception as exc:  # paramiko/socket errors: say which host
        raise OpsError(f"{host.name} ({host.address}): cannot connect over SSH: {exc}")
    if check and result.return_code != 0:
        raise OpsError(f"{host.name}: `{command[:150]}` failed ({result.return_code}): "
                       f"{(result.stderr or result.stdout).strip()[-1500:]}")
    return result


def run_everywhere(inv: Inventory, command: str, hosts: list[Host] | None = None) -> dict:
    """Run a read-only command on each host; {host: stdout}. Raises on the first failure."""
    outputs = {}
    for host in (hosts if hosts is not None else inv.hosts.values()):
        try:
            with connect(host) as connection:
                result = run(connection, command, host, sudo=False)
        except OpsError:
            raise
        except Exception as exc:
            raise OpsError(f"{host.name} ({host.address}): cannot connect over SSH: {exc}")
        outputs[host.name] = result.stdout.strip()
    return outputs


def json_answer(result, what: str, host: Host) -> dict:
    """The JSON document a command printed as its (last) stdout line(s)."""
    text = result.stdout.strip()
    for candidate in (text, text.splitlines()[-1] if text else ""):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise OpsError(f"{host.name}: {what} gave no JSON answer:\n"
                   f"{(result.stderr or result.stdout).strip()[-1500:]}")


def manage(connection, host: Host, args: str, check: bool = True) -> dict:
    """`preau-manage ARGS --json` as the app user on an app host; its JSON answer."""
    command = ("cd /tmp && sudo -u preau env PREAU_METRICS_MULTIPROC_DIR= "
               f"/srv/preau/current/venv/bin/preau-manage {args} --json")
    result = run(connection, command, host, check=False)
    answer = json_answer(result, f"preau-manage {args.split()[0]}", host)
    if check and (result.return_code != 0 or not answer.get("ok", False)):
        raise AppCommandError(answer, f"preau-manage {args} on {host.name}: "
                                      f"{answer.get('error') or 'failed'}")
    return answer


class AppCommandError(OpsError):
    """A management command refused: `answer` holds its JSON (errors with file/record)."""

    def __init__(self, answer: dict, message: str):
        super().__init__(message)
        self.answer = answer


def _record(inv: Inventory, what: str, result: str, detail: str, hosts: list[Host]) -> None:
    record = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "operator": operator_name(inv), "inventory": inv.name, "operation": what,
              "result": result, "detail": detail[:500]}
    AUDIT_LOG.parent.mkdir(exist_ok=True)
    with open(AUDIT_LOG, "a") as log:
        log.write(json.dumps(record, ensure_ascii=False) + "\n")
    line = shlex.quote(json.dumps(record, ensure_ascii=False))
    for host in hosts:  # journald keeps it on the servers (tag preau-ops)
        with contextlib.suppress(Exception), connect(host) as connection:
            run(connection, f"logger -t preau-ops -- {line}", host, sudo=False, check=False)


def operator_name(inv: Inventory) -> str:
    for host in inv.hosts.values():
        if host.vars.get("preau_operator"):
            return str(host.vars["preau_operator"])
    return getpass.getuser()


@contextlib.contextmanager
def operation(inv: Inventory, what: str):
    """Preconditions, platform lock and audit log around a procedure that changes things.

    Yields (host, connection) for the first app host, where the app's commands run.
    """
    app_hosts = inv.hosts_in("app")
    if not app_hosts:
        raise OpsError(f"inventory {inv.name} has no host in group app")
    host = app_hosts[0]
    outcome, detail = "failed", ""
    try:
        with connect(host) as connection:
            run(connection, "true", host, sudo=False)
            if run(connection, "test -x /srv/preau/current/venv/bin/preau-manage", host,
                   check=False).return_code != 0:
                raise OpsError(f"the app is not deployed on {host.name}",
                               "run `deploy.py release` first")
            full = disk_problem(host, run(connection, DISK_COMMAND, host).stdout)
            if full:
                raise OpsError(f"disk nearly full: {full}",
                               "free some space before running a procedure")
            info = shlex.quote(f"{operator_name(inv)} {what} since "
                               f"{time.strftime('%Y-%m-%d %H:%M:%S')}")
            taken = run(connection, f"mkdir {LOCK_DIR} && echo {info} > {LOCK_DIR}/owner", host,
                        check=False)
            if taken.return_code != 0:
                owner = run(connection, f"cat {LOCK_DIR}/owner", host, check=False).stdout
                raise OpsError(f"another operation is running: {owner.strip() or 'unknown'}",
                               f"wait for it; if it died, remove {LOCK_DIR} on {host.name}")
            try:
                outcome_box = {"detail": ""}
                yield host, connection, outcome_box
                outcome, detail = "ok", outcome_box["detail"]
            finally:
                run(connection, f"rm -rf {LOCK_DIR}", host, check=False)
    except OpsError as exc:
        detail = exc.message
        raise
    finally:
        _record(inv, what, outcome, detail, [host])
