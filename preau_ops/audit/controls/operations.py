"""The operations log (issue #23 item 1): on the ops host, every state-changing command's entry,
chained; nothing edited, removed or cut off since this controller appended its entries."""

from __future__ import annotations

import pytest

from preau_ops import operations
from preau_ops.audit.catalogue import Evidence
from preau_ops.audit.remote import Remote
from preau_ops.errors import OpsError
from preau_ops.inventory import Host, Inventory

control = pytest.mark.control


@control(
    "OPS-01",
    "The operations log on the ops host is intact: an unbroken chain holding every entry "
    "this controller appended",
    "Issue #23 item 1 (operations serialized, recorded, traceable); ANSSI-BP-028 R71 (logs)",
    groups=(operations.LOCK_GROUP,),
)
def test_operations_log(inv: Inventory, host: Host, remote: Remote, evidence: Evidence) -> None:
    if host.name != operations.ops_host(inv).name:
        pytest.skip(f"the log lives on the ops host {operations.ops_host(inv).name}")
    try:
        text = remote.read(operations.REMOTE_LOG)
    except FileNotFoundError:
        pytest.fail(f"{operations.REMOTE_LOG} is missing: no operation was ever recorded here")
    assert text is not None, f"{operations.REMOTE_LOG} is not readable by {remote.user}"
    try:
        entries = operations.verify(text)
    except OpsError as broken:
        pytest.fail(broken.message)
    assert entries, f"{operations.REMOTE_LOG} is empty"
    last = entries[-1]
    evidence(
        f"{len(entries)} entries, chain {last['chain']} intact; last #{last['seq']} "
        f"`{last['command']}` {last['outcome']} at {last['end']} by {last['operator']}"
    )
    missing = operations.missing_here(entries, host.name)
    assert not missing, (
        f"{len(missing)} entr(y/ies) this controller appended are gone or changed: "
        + ", ".join(f"#{e['seq']} `{e['command']}`" for e in missing[:5])
    )
