"""The CLI's JSON documents on the real lab (issue #23 item 7): `status --json`, `lab status
--json` and `inventory show --json` are one document alone on stdout, and say what the hosts
themselves say (read on them here), with the exit code of the screen."""

import json

import pytest

from preau_ops import operations, runner
from preau_ops import platform as platform_map
from preau_ops.release import CURRENT
from preau_ops.status import REBOOT_METRIC, TEXTFILE_DIR

from .conftest import deploy

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]

# What each host says of itself: its release, whether it waits for a reboot (the apt
# collector's metric, if it ran yet), and the ops host's last log entry.
ON_THE_HOST = (
    f"readlink {CURRENT} | xargs -r basename; echo ---; "
    f"grep -hs '^{REBOOT_METRIC} ' {TEXTFILE_DIR}/*.prom | cut -d' ' -f2; echo ---; "
    f"tail -n 1 {operations.REMOTE_LOG} 2>/dev/null; echo ---; "
    "systemctl show -p ExecStart --value preau-worker.service 2>/dev/null; true"
)


def document(*args: str) -> tuple[dict, int]:
    result = deploy(*args, "--json", check=False)
    assert result.returncode in (0, 1), result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(result.stdout), result.returncode  # the document alone on stdout


def test_status_json_says_what_the_hosts_say(lab):
    said = {
        name: [part.strip() for part in out.split("---")]
        for name, out in runner.run_everywhere(lab, ON_THE_HOST).items()
    }
    doc, code = document("status")
    assert code == (1 if doc["attention"] else 0)
    assert [host["name"] for host in doc["hosts"]] == list(lab.hosts)
    for host in doc["hosts"]:
        groups = lab.hosts[host["name"]].groups
        release, reboot, _, _ = said[host["name"]]
        assert host["reachable"] is True and host["groups"] == groups
        assert list(host["services"]) == platform_map.services(groups, lab.hosts[host["name"]].vars)
        assert host["release"] == (release or None)
        assert host["reboot_required"] == ({"1": True, "0": False}.get(reboot))
        assert set(host["load"]) == {"1m", "5m", "15m"}
        assert 0 < host["disk_used_percent"] <= 100
        assert host["certificate_days_left"] > 21 and host["certificate_attention"] is False
        assert host["maintenance"] is (False if "app" in groups else None)
    assert doc["watchdog"] in ("firing", "not firing")  # Alertmanager answered status
    # the job queue, asked of the app: one live worker per app host, nothing stalled
    assert doc["jobs"]["workers"] == len(lab.hosts_in("app")), doc["jobs"]
    assert doc["jobs"]["stalled_jobs"] == 0 and "emails" in doc["jobs"]["queues"]
    # the jobs that use a host's files (the long queue) run on the first app host only
    first, *others = [said[h.name][3] for h in lab.hosts_in("app")]
    assert "jobs worker" in first and "--no-host-files" not in first, first
    assert all("jobs worker --no-host-files" in o for o in others), others
    ops = doc["operations"]
    ops_host = operations.ops_host(lab).name
    assert ops["ops_host"] == ops_host and ops["lock"] is None  # nothing runs now
    last = json.loads(said[ops_host][2])
    assert ops["last_operations"][-1]["seq"] == last["seq"]
    assert ops["last_operations"][-1]["end"] == last["end"]


def test_lab_status_and_inventory_show_json_name_the_lab_hosts(lab):
    lab_doc, code = document("lab", "status")
    assert code == 0 and lab_doc["engine"] is True and lab_doc["up"] is True
    inventory_doc, code = document("inventory", "show")
    assert code == 0 and inventory_doc["inventory"] == lab.name
    containers = {host["name"]: host for host in lab_doc["hosts"]}
    listed = {host["name"]: host for host in inventory_doc["hosts"]}
    assert list(listed) == list(lab.hosts)
    for name, host in lab.hosts.items():
        assert containers[name]["state"] == "running"
        assert containers[name]["address"] == listed[name]["address"] == host.address
        assert listed[name]["private_address"] == host.private_address
        assert containers[name]["groups"] == listed[name]["groups"] == host.groups
