"""The lab's hosts: one Docker container per inventory host, systemd inside, SSH in front.

`up` is idempotent: running hosts are kept, missing ones created, stopped ones started, and
the lab inventory (`inventories/lab/hosts.yml`) is rewritten from what actually runs.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import yaml

from .. import platform
from ..console import Progress
from ..errors import OpsError
from ..paths import LAB_INVENTORY, STATE_DIR
from . import image

NETWORK = "preau-lab"
SUBNET = "172.30.82.0/24"
LABEL = "org.preau.lab"
GROUPS = platform.groups()  # the platform map's; the single topology's host carries them all

# host name -> groups, per topology (docs/contracts.md)
TOPOLOGIES: dict[str, dict[str, tuple[str, ...]]] = {
    "single": {"ent": GROUPS},
    "standard": {"web": ("lb", "app"), "db": ("db",), "ops": ("backup", "monitoring")},
    "scaled": {
        "lb": ("lb",),
        "app1": ("app",),
        "app2": ("app",),
        "db": ("db",),
        "ops": ("backup", "monitoring"),
    },
}
# The lab stands in for a dedicated backup disk: on a backup host the backups of the
# pgBackRest repository (`backup/` of roles/backup's `backup_repo_path`, /var/lib/pgbackrest)
# live on their own small size-limited filesystem instead of the machine's big overlay, so
# that it can really fill up (tests/lab/test_70_faults.py fills it: backups must fail loudly).
# Only `backup/`: the repository user's home (its SSH keys) stays on the overlay, as tmpfs
# cannot take the file attributes Ansible copies onto new keys. The mount point is sticky and
# world-writable like /tmp because its owner (user pgbackrest) only exists after the converge;
# pgBackRest makes its own 0750 directories inside.
BACKUP_DISK_PATH = "/var/lib/pgbackrest/backup"
BACKUP_DISK_SIZE = "256m"
# Stable addresses: a host keeps its address across labs and topologies.
ADDRESSES = {"ent": 10, "web": 11, "lb": 12, "app1": 21, "app2": 22, "db": 31, "ops": 41}

KEY_FILE = STATE_DIR / "id_ed25519"
KNOWN_HOSTS = STATE_DIR / "known_hosts"
STATE_FILE = STATE_DIR / "lab.json"
HOSTS_FILE = LAB_INVENTORY / "hosts.yml"


@dataclass
class LabHost:
    name: str
    groups: tuple[str, ...]
    address: str
    state: str = "absent"

    @property
    def container(self) -> str:
        return f"preau-{self.name}"


def address_of(name: str) -> str:
    return f"172.30.82.{ADDRESSES[name]}"


def _docker(*args: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result: subprocess.CompletedProcess[str] = subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False, **kwargs
    )
    if check and result.returncode != 0:
        raise OpsError(f"docker {args[0]} failed: {result.stderr.strip()[-1500:]}")
    return result


def read_state() -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(STATE_FILE.read_text())
        return state
    except (OSError, ValueError):
        return None


def planned(topology: str) -> list[LabHost]:
    return [
        LabHost(name, groups, address_of(name)) for name, groups in TOPOLOGIES[topology].items()
    ]


def container_states() -> dict[str, str]:
    """State of every lab container, by container name."""
    out = _docker(
        "ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}} {{.State}}"
    ).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if line.strip())


def ensure_key() -> str:
    STATE_DIR.mkdir(exist_ok=True)
    if not KEY_FILE.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "preau-lab", "-f", str(KEY_FILE)],
            check=True,
        )
    return KEY_FILE.with_suffix(".pub").read_text().strip()


def ensure_network() -> None:
    if _docker("network", "inspect", NETWORK, check=False).returncode == 0:
        return
    _docker("network", "create", "--subnet", SUBNET, "--label", LABEL, NETWORK)


def _run_container(host: LabHost, hosts: list[LabHost], tag: str, mirrors: dict[str, str]) -> None:
    # Every lab host knows the others and the mirrors by /etc/hosts: the hosts' firewall may
    # drop Docker's embedded DNS, and the machine's resolver is not theirs to use.
    extra = [f"--add-host={h.name}:{h.address}" for h in hosts if h.name != host.name]
    extra += [f"--add-host={name}:{ip}" for name, ip in mirrors.items()]
    if "backup" in host.groups:
        extra.append(
            f"--mount=type=tmpfs,destination={BACKUP_DISK_PATH},"
            f"tmpfs-size={BACKUP_DISK_SIZE},tmpfs-mode=01777"
        )
    _docker(
        "run",
        "-d",
        "--name",
        host.container,
        "--hostname",
        host.name,
        "--network",
        NETWORK,
        "--ip",
        host.address,
        "--cap-add",
        "SYS_ADMIN",
        "--cap-add",
        "NET_ADMIN",
        "--cgroupns=host",
        "-v",
        "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--tmpfs",
        "/run",
        "--tmpfs",
        "/run/lock",
        "--stop-signal",
        "SIGRTMIN+3",
        "--dns",
        "127.0.0.1",
        "--label",
        LABEL,
        "--label",
        f"{LABEL}.groups={','.join(host.groups)}",
        *extra,
        f"{image.REPOSITORY}:{tag}",
    )


def _wait_booted(host: LabHost, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _docker(
            "exec", host.container, "systemctl", "is-system-running", check=False
        ).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(0.3)
    raise OpsError(
        f"lab host {host.name} did not finish booting in {timeout:.0f} s",
        f"look inside: docker exec -it {host.container} journalctl -b",
    )


def _authorize_key(host: LabHost, public_key: str) -> None:
    script = (
        "install -d -m 700 -o deploy -g deploy /home/deploy/.ssh && "
        'grep -qxF "$1" /home/deploy/.ssh/authorized_keys 2>/dev/null || '
        '{ echo "$1" >> /home/deploy/.ssh/authorized_keys; '
        "chown deploy:deploy /home/deploy/.ssh/authorized_keys; "
        "chmod 600 /home/deploy/.ssh/authorized_keys; }"
    )
    _docker("exec", host.container, "sh", "-c", script, "sh", public_key)


def _scan_host_keys(hosts: list[LabHost], timeout: float = 30) -> None:
    """Record the hosts' SSH keys (generated at their first boot) as the lab's known hosts."""
    deadline = time.monotonic() + timeout
    while True:
        result = subprocess.run(
            ["ssh-keyscan", "-T", "3", "-t", "ed25519", *[h.address for h in hosts]],
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [line for line in result.stdout.splitlines() if not line.startswith("#")]
        if len(lines) == len(hosts):
            KNOWN_HOSTS.write_text("\n".join(sorted(lines)) + "\n")
            return
        if time.monotonic() > deadline:
            raise OpsError(
                "sshd did not answer on every lab host: " + ", ".join(h.name for h in hosts)
            )
        time.sleep(0.5)


def write_inventory(topology: str, hosts: list[LabHost], public_key: str) -> None:
    """The lab's hosts.yml: same groups and variables as any other inventory."""
    children = {
        group: {"hosts": {h.name: None for h in hosts if group in h.groups}} for group in GROUPS
    }
    inventory = {
        "all": {
            "hosts": {h.name: {"ansible_host": h.address} for h in hosts},
            "vars": {
                "ansible_user": "deploy",
                "ansible_ssh_private_key_file": str(KEY_FILE),
                "preau_ssh_known_hosts_file": str(KNOWN_HOSTS),
                "ansible_ssh_common_args": f"-o UserKnownHostsFile={KNOWN_HOSTS} "
                "-o StrictHostKeyChecking=yes",
                "preau_lab_topology": topology,
                "preau_lab_ssh_public_key": public_key,
            },
            "children": children,
        }
    }
    LAB_INVENTORY.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Generated by `deploy.py lab up --topology {topology}`: do not edit, it is\n"
        "# rewritten at each `lab up` (git-ignored). Shared variables: group_vars/.\n"
    )
    HOSTS_FILE.write_text(header + yaml.safe_dump(inventory, sort_keys=False))


def up(topology: str, tag: str, progress: Progress | None = None) -> list[LabHost]:
    state = read_state()
    current = container_states()
    if current and state and state.get("topology") != topology:
        raise OpsError(
            f"the lab is already up with topology {state['topology']!r}",
            "run `./deploy.py lab down` first, or pass the same --topology",
        )
    hosts = planned(topology)
    strays = set(current) - {h.container for h in hosts}
    if strays:
        raise OpsError(
            "lab containers that are not part of this topology exist: " + ", ".join(sorted(strays)),
            "run `./deploy.py lab down` first",
        )
    public_key = ensure_key()
    ensure_network()
    mirrors = image.resolve_mirrors()
    STATE_FILE.write_text(json.dumps({"topology": topology, "image": tag}))
    for host in hosts:
        status = current.get(host.container)
        if status == "running":
            continue
        if progress:
            progress.update(f"starting {host.name}")
        if status is None:
            _run_container(host, hosts, tag, mirrors)
        else:
            _docker("start", host.container)
    for host in hosts:
        if progress:
            progress.update(f"waiting for {host.name} to boot")
        _wait_booted(host)
        _authorize_key(host, public_key)
        host.state = "running"
    _scan_host_keys(hosts)
    write_inventory(topology, hosts, public_key)
    return hosts


def status() -> list[LabHost]:
    state = read_state() or {}
    current = container_states()
    topology = state.get("topology")
    if topology is None:
        return []
    hosts = planned(topology)
    for host in hosts:
        host.state = current.get(host.container, "absent")
    return hosts


def _stop_ssh_masters() -> int:
    """End the SSH connection masters (ControlPersist) our tools left open to lab hosts."""
    import os
    import signal
    from pathlib import Path

    prefix = SUBNET.rsplit(".", 1)[0] + "."
    stopped = 0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"ssh") and any(prefix.encode() in a for a in argv):
            try:
                os.kill(int(proc.name), signal.SIGTERM)
                stopped += 1
            except OSError:
                pass
    return stopped


def down(progress: Progress | None = None) -> list[str]:
    """Remove every container and the network the lab made; return what was removed."""
    removed = []
    if _stop_ssh_masters():
        removed.append("ssh connections")
    for name in container_states():
        if progress:
            progress.update(f"removing {name}")
        _docker("rm", "-f", "-v", name)
        removed.append(name)
    if _docker("network", "inspect", NETWORK, check=False).returncode == 0:
        _docker("network", "rm", NETWORK)
        removed.append(f"network {NETWORK}")
    for path in (STATE_FILE, KNOWN_HOSTS, HOSTS_FILE, LAB_INVENTORY / "group_vars/all/vault.yml"):
        path.unlink(missing_ok=True)
    return removed


def ssh_command(name: str) -> list[str]:
    hosts = {h.name: h for h in status()}
    if name not in hosts:
        raise OpsError(
            f"no lab host named {name!r}",
            "lab hosts: " + (", ".join(hosts) or "none (run `./deploy.py lab up`)"),
        )
    return [
        "ssh",
        "-i",
        str(KEY_FILE),
        "-o",
        f"UserKnownHostsFile={KNOWN_HOSTS}",
        "-o",
        "StrictHostKeyChecking=yes",
        f"deploy@{hosts[name].address}",
    ]
