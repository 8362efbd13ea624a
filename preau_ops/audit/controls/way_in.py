"""Per-host control of the way in that `deploy.py bootstrap` leaves (issue #21 item 1), seen
from outside as an attacker would try it: a root login with the operators' key is refused,
and sshd asks no password of anyone. SSH-01 reads the same settings in sshd's configuration;
this one proves them on the wire, through the bastion when there is one."""

from __future__ import annotations

import pytest

from preau_ops.audit.catalogue import Evidence
from preau_ops.bootstrap import logins
from preau_ops.inventory import Host, Inventory

control = pytest.mark.control


@control(
    "SSH-04",
    "Root and password logins refused (tried from the controller)",
    "ANSSI-BP-028 R33, R79; issue #21 item 1 (bootstrap turns them off)",
)
def test_root_and_password_logins_refused(host: Host, inv: Inventory, evidence: Evidence) -> None:
    key = host.key_file or "ssh's default keys"
    login = logins.as_root(host, inv, logins.RootAccess())
    assert not login.ok, f"root logged in over SSH (with {key})"
    assert login.methods, f"no refusal from sshd as root, cannot tell: {login.error}"
    evidence(
        f"root@{host.address} refused (tried with {key}); sshd offers: {', '.join(login.methods)}"
    )
    assert not login.password_offered, (
        f"sshd offers {', '.join(login.methods)}: password logins are on"
    )
