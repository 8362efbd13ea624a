"""A nearly full disk stops release, patch and procedures before they change anything.

The lab's disks are the controller's (far from full): the test lowers the inventory's limit
(preau_disk_full_percent) below the real usage, so the real `df` of each host trips it."""

import pytest

from preau_ops import inventory, operations, procedures, release, runner
from preau_ops.errors import OpsError

from .conftest import variant

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]


@pytest.fixture()
def tight(lab):
    inv = inventory.load(None)
    for host in inv.hosts.values():
        host.vars["preau_disk_full_percent"] = 1
    return inv


def _lock_absent(inv) -> bool:
    return operations.holder(inv) is None


def test_a_procedure_refuses_a_nearly_full_disk(tight):
    with (
        pytest.raises(OpsError, match=r"disk nearly full: \w+: / is \d+ % full \(limit 1 %\)"),
        procedures.operation(tight, "disk-full test"),
    ):
        pytest.fail("the procedure started on a nearly full disk")
    assert _lock_absent(tight), "the refused procedure left its lock behind"


def _releases(inv) -> dict:
    with runner.session(inv, inv.hosts_in("app")) as sessions:
        return {h.name: release.host_releases(sessions, h) for h in inv.hosts_in("app")}


def test_a_release_refuses_before_installing_anything(tight, tmp_path):
    source = variant(tmp_path, "disk-full test")  # a version the hosts do not have
    before = _releases(tight)
    with pytest.raises(OpsError, match="disk nearly full"):
        release.release(tight, source)
    assert _releases(tight) == before
