"""One-off procedures run over SSH with Fabric (establishments, backups, diagnostics).

Connections and commands go through the runner (`preau_ops.runner.FabricSession`): the same
user, key, known hosts and bastion as every other tool; an unknown host key is refused. A
procedure that changes something runs inside `operation()`: the operation layer (one operation
at a time on the platform, an entry in the operations log whatever the outcome:
`preau_ops.operations`), then its preconditions on the first app host.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from .. import operations
from ..errors import OpsError
from ..inventory import Host, Inventory
from ..operations import Record
from ..preconditions import DISK_COMMAND, disk_problem, refuse_bad_clocks
from ..release.host import CURRENT, manage_command
from ..runner import FabricSession, json_answer

MANAGE_TIMEOUT = 1800  # an AAF import or a merge of large establishments takes minutes

JSON = dict[str, Any]  # a command's JSON answer


def manage(
    session: FabricSession,
    host: Host,
    args: str,
    check: bool = True,
    database: str | None = None,
) -> dict[str, Any]:
    """`preau-manage ARGS --json` as the app user on an app host (on another database of the
    server when told: the copy of a backup); its JSON answer."""
    command = manage_command(args, database=database)
    result = session.run(host, command, check=False, timeout=MANAGE_TIMEOUT)
    answer = json_answer(result, f"preau-manage {args.split(maxsplit=1)[0]}")
    if check and (not result.ok or not answer.get("ok", False)):
        raise AppCommandError(
            answer, f"preau-manage {args} on {host.name}: {answer.get('error') or 'failed'}"
        )
    return answer


def app_manage(inv: Inventory, args: str) -> dict[str, Any]:
    """`manage` on the first app host in a session of its own, outside any operation (demo
    data, the login throttle's state): no platform lock, no audit record."""
    hosts = inv.hosts_in("app")
    if not hosts:
        raise OpsError(f"inventory {inv.name} has no host in group app")
    with FabricSession(hosts[0], inv) as session:
        return manage(session, hosts[0], args)


class AppCommandError(OpsError):
    """A management command refused: `answer` holds its JSON (errors with file/record)."""

    def __init__(self, answer: dict[str, Any], message: str):
        super().__init__(message)
        self.answer = answer


def _preconditions(session: FabricSession, host: Host) -> None:
    """The app is deployed, the disk is not nearly full and the clock is right (synchronised on
    a real host) on the host procedures run on."""
    if not session.run(host, f"test -x {CURRENT}/venv/bin/preau-manage", check=False).ok:
        raise OpsError(f"the app is not deployed on {host.name}", "run `deploy.py release` first")
    full = disk_problem(host, session.run(host, DISK_COMMAND).stdout)
    if full:
        raise OpsError(f"disk nearly full: {full}", "free some space before running a procedure")
    refuse_bad_clocks(session, [host])


@contextlib.contextmanager
def operation(inv: Inventory, what: str) -> Iterator[tuple[Host, FabricSession, Record]]:
    """A procedure that changes things: inside the operation layer (the platform lock, the
    operations log: `preau_ops.operations`), then the preconditions on the first app host.

    Yields (host, session, record) for the first app host, where the app's commands run; the
    procedure may set record.detail and record.backup for the log.
    """
    app_hosts = inv.hosts_in("app")
    if not app_hosts:
        raise OpsError(f"inventory {inv.name} has no host in group app")
    host = app_hosts[0]
    with operations.operation(inv, what) as record, FabricSession(host, inv) as session:
        session.run(host, "true", sudo=False)
        _preconditions(session, host)
        yield host, session, record
