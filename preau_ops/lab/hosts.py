"""The lab's hosts: one Docker container per inventory host, systemd inside, SSH in front.

`up` is idempotent: running hosts are kept, missing ones created, stopped ones started, and
the lab inventory (`inventories/lab/hosts.yml`) is rewritten from what actually runs.

Networks: every host is on the management network (its `ansible_host`; the controller is
this network's gateway, .1). The production-like topology (`prodlike`) adds what production
has (docs/contracts.md): a bastion, the one SSH entry every tool goes through, and a private
service network, Docker-internal (no way out of the machine), on which every host has its
`preau_private_address` for all host-to-host traffic. The bastion is on it too, as a host of
the platform (its metrics, packages, time and mail come from the ops host like every host's);
what makes it the bastion is SSH: the others accept SSH from its management address only.
There, the management network is Docker-internal too: no host has a way off the machine but
the apt proxy's (the ops host), which also joins the outside network, so Debian's packages
come through what the bundle runs (role apt_proxy) or not at all.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .. import platform, runner
from ..console import Progress
from ..errors import OpsError
from ..inventory import Host
from ..paths import LAB_INVENTORY, STATE_DIR
from . import image

LABEL = "org.preau.lab"


@dataclass(frozen=True)
class Network:
    name: str
    prefix: str  # the /24's first three octets: a host's address is prefix.ADDRESSES[name]
    internal: bool  # Docker --internal: no route out of the machine

    @property
    def subnet(self) -> str:
        return f"{self.prefix}.0/24"


MANAGEMENT = Network("preau-lab", "172.30.82", internal=False)
PRIVATE = Network("preau-lab-private", "172.30.83", internal=True)
# prodlike's way off the machine, for the apt proxy's host only (NAT, Docker's default bridge
# behaviour); its management network is then internal like the private one.
OUTSIDE = Network("preau-lab-outside", "172.30.84", internal=False)
NETWORK, SUBNET = MANAGEMENT.name, MANAGEMENT.subnet
GROUPS = platform.groups()  # the platform map's
# The service groups: the single topology's host carries them all (not the optional bastion).
SERVICE_GROUPS = platform.required_groups()

# host name -> groups, per topology (docs/contracts.md)
TOPOLOGIES: dict[str, dict[str, tuple[str, ...]]] = {
    "single": {"ent": SERVICE_GROUPS},
    "standard": {"web": ("lb", "app"), "db": ("db",), "ops": ("backup", "monitoring")},
    "scaled": {
        "lb": ("lb",),
        "app1": ("app",),
        "app2": ("app",),
        "db": ("db",),
        "ops": ("backup", "monitoring"),
    },
    # THE production-like topology (issue #21): scaled's hosts behind a bastion, on two
    # networks. The HA issue (#22) adds its hosts here (numbers reserved in ADDRESSES).
    "prodlike": {
        "bastion": ("bastion",),
        "lb": ("lb",),
        "app1": ("app",),
        "app2": ("app",),
        "db": ("db",),
        "ops": ("backup", "monitoring"),
    },
}
# Topologies with the private service network (all their hosts are on it) and no way off the
# machine but the apt proxy's host's: the first monitoring host, as wiring.yml's
# base_apt_proxy_host.
PRIVATE_TOPOLOGIES = ("prodlike",)
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
# That filesystem is mounted on the machine and bound into the container, so that it survives
# the host's reboots (a lab reboot restarts the container) as a disk does: a tmpfs of the
# container's own was emptied by each restart, leaving pgBackRest's archive without its
# backups ("archive.info exists but backup.info is missing"). Without root here (an engine
# started by someone else), the container's own tmpfs stands in, as before.
DISKS_DIR = STATE_DIR / "disks"
# The lab's containers' CPU weight, 4 times Docker's default: when the machine is shared (the
# test suites run molecule's containers beside the lab suite) the lab's hosts come first; on
# an idle machine it changes nothing.
CPU_SHARES = 4096
# Stable addresses: a host keeps its number (the last octet, the same on both networks) across
# labs and topologies. lb2, db2 and backup2 are reserved for the HA issue (#22).
ADDRESSES = {
    "bastion": 5,
    "ent": 10,
    "web": 11,
    "lb": 12,
    "lb2": 13,
    "app1": 21,
    "app2": 22,
    "db": 31,
    "db2": 32,
    "ops": 41,
    "backup2": 42,
}

KEY_FILE = STATE_DIR / "id_ed25519"
KNOWN_HOSTS = STATE_DIR / "known_hosts"
STATE_FILE = STATE_DIR / "lab.json"
HOSTS_FILE = LAB_INVENTORY / "hosts.yml"


@dataclass
class LabHost:
    name: str
    groups: tuple[str, ...]
    address: str  # on the management network: ansible_host
    private_address: str | None = None  # on the private network, when the topology has one
    outside: bool = False  # on the OUTSIDE network: the only way off a closed topology
    state: str = "absent"

    @property
    def container(self) -> str:
        return f"preau-{self.name}"


def address_of(name: str, network: Network = MANAGEMENT) -> str:
    return f"{network.prefix}.{ADDRESSES[name]}"


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
    private = topology in PRIVATE_TOPOLOGIES
    hosts = TOPOLOGIES[topology]
    proxy = next(name for name, groups in hosts.items() if "monitoring" in groups)
    return [
        LabHost(
            name,
            groups,
            address_of(name),
            address_of(name, PRIVATE) if private else None,
            outside=private and name == proxy,
        )
        for name, groups in hosts.items()
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


def networks(hosts: list[LabHost]) -> list[Network]:
    """The networks these hosts need; with a private one, the management one is internal."""
    if not any(h.private_address for h in hosts):
        return [MANAGEMENT]
    return [dataclasses.replace(MANAGEMENT, internal=True), PRIVATE, OUTSIDE]


def ensure_networks(hosts: list[LabHost]) -> None:
    for network in networks(hosts):
        if _docker("network", "inspect", network.name, check=False).returncode == 0:
            continue
        internal = ["--internal"] if network.internal else []
        _docker(
            "network", "create", *internal, "--subnet", network.subnet, "--label", LABEL,
            network.name,
        )  # fmt: skip


def _backup_disk(host: LabHost) -> str:
    """docker create's option giving a backup host its small backup disk (BACKUP_DISK_PATH),
    made empty: a tmpfs on the machine (DISKS_DIR/<container>), bound into the container."""
    if os.geteuid() != 0:
        return (
            f"--mount=type=tmpfs,destination={BACKUP_DISK_PATH},"
            f"tmpfs-size={BACKUP_DISK_SIZE},tmpfs-mode=01777"
        )
    disk = DISKS_DIR / host.container
    _release_disk(disk)  # an earlier lab's, not taken down: its backups are not this lab's
    disk.mkdir(parents=True)
    options = f"size={BACKUP_DISK_SIZE},mode=1777"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(disk)], check=True)
    return f"--mount=type=bind,source={disk},destination={BACKUP_DISK_PATH}"


def _release_disk(disk: Path) -> None:
    if os.path.ismount(disk):
        subprocess.run(["umount", str(disk)], check=True)
    if disk.is_dir():
        disk.rmdir()


def _known_address(host: LabHost, other: LabHost) -> str:
    """The address `host` knows `other` by: the private one when both are on that network."""
    if host.private_address and other.private_address:
        return other.private_address
    return other.address


def _run_container(host: LabHost, hosts: list[LabHost], tag: str, mirrors: dict[str, str]) -> None:
    """Create the host's container on the management network, join it to the private one
    and the outside one when it has them (before it boots, as a server comes up with its
    interfaces), then start it."""
    # Every lab host knows the others and the mirrors by /etc/hosts: the hosts' firewall may
    # drop Docker's embedded DNS, and the machine's resolver is not theirs to use.
    extra = [f"--add-host={h.name}:{_known_address(host, h)}" for h in hosts if h.name != host.name]
    extra += [f"--add-host={name}:{ip}" for name, ip in mirrors.items()]
    if "backup" in host.groups:
        extra.append(_backup_disk(host))
    _docker(
        "create",
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
        "--cpu-shares",
        str(CPU_SHARES),
        "-v",
        "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--tmpfs",
        "/run",
        "--tmpfs",
        "/run/lock",
        "--stop-signal",
        "SIGRTMIN+3",
        # a reboot inside the host (systemd exits) starts the container again, as a machine
        # comes back (patch --reboot); `docker stop` (a host down, test_70) keeps it down
        "--restart",
        "unless-stopped",
        "--dns",
        "127.0.0.1",
        "--label",
        LABEL,
        "--label",
        f"{LABEL}.groups={','.join(host.groups)}",
        *extra,
        f"{image.REPOSITORY}:{tag}",
    )
    if host.private_address:
        _docker("network", "connect", "--ip", host.private_address, PRIVATE.name, host.container)
    if host.outside:
        outside = address_of(host.name, OUTSIDE)
        _docker("network", "connect", "--ip", outside, OUTSIDE.name, host.container)
    _docker("start", host.container)


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
    """The lab key for the deploy account, on images that have one (older images made it;
    today's have root's key only and `deploy.py bootstrap` creates the account)."""
    script = (
        "id deploy >/dev/null 2>&1 || exit 0; "
        "install -d -m 700 -o deploy -g deploy /home/deploy/.ssh && "
        'grep -qxF "$1" /home/deploy/.ssh/authorized_keys 2>/dev/null || '
        '{ echo "$1" >> /home/deploy/.ssh/authorized_keys; '
        "chown deploy:deploy /home/deploy/.ssh/authorized_keys; "
        "chmod 600 /home/deploy/.ssh/authorized_keys; }"
    )
    _docker("exec", host.container, "sh", "-c", script, "sh", public_key)


def _host_key(host: LabHost) -> str | None:
    """The host's ed25519 public key, read inside the container (out of band, as from a
    provider's console: not over the network, where only the bastion may reach SSH)."""
    result = _docker(
        "exec", host.container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub", check=False
    )
    fields = result.stdout.split()
    return " ".join(fields[:2]) if result.returncode == 0 and len(fields) >= 2 else None


def _record_host_keys(hosts: list[LabHost], timeout: float = 30) -> None:
    """Record the hosts' SSH keys (generated at their first boot) as the lab's known hosts."""
    deadline = time.monotonic() + timeout
    while True:
        keys = {h.address: _host_key(h) for h in hosts}
        if all(keys.values()):
            lines = sorted(f"{address} {key}" for address, key in keys.items())
            KNOWN_HOSTS.write_text("\n".join(lines) + "\n")
            return
        if time.monotonic() > deadline:
            missing = [h.name for h in hosts if not keys[h.address]]
            raise OpsError("no SSH host key on lab host(s): " + ", ".join(missing))
        time.sleep(0.5)


# On Debian 13 hosts, the platform's PostgreSQL is 17 (the wiring says 15, Debian 12's): set
# per host, since the wiring wins over an inventory's group variables but not over its hosts'.
TRIXIE_VARS = {"postgresql_version": 17}


def _host_vars(host: LabHost, tag: str) -> dict[str, Any]:
    private = {"preau_private_address": host.private_address} if host.private_address else {}
    release = TRIXIE_VARS if tag == image.bare_tag("trixie") else {}
    return {"ansible_host": host.address, **private, **release}


def write_inventory(topology: str, hosts: list[LabHost], public_key: str, tag: str) -> None:
    """The lab's hosts.yml: same groups and variables as any other inventory."""
    children = {
        group: {"hosts": {h.name: None for h in hosts if group in h.groups}}
        for group in GROUPS
        if any(group in h.groups for h in hosts)
    }
    inventory = {
        "all": {
            "hosts": {h.name: _host_vars(h, tag) for h in hosts},
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
    if current and state and state.get("image", tag) != tag:
        raise OpsError(
            f"the lab is already up with image {state['image']!r}",
            "run `./deploy.py lab down` first, or pass the same --image",
        )
    hosts = planned(topology)
    strays = set(current) - {h.container for h in hosts}
    if strays:
        raise OpsError(
            "lab containers that are not part of this topology exist: " + ", ".join(sorted(strays)),
            "run `./deploy.py lab down` first",
        )
    public_key = ensure_key()
    ensure_networks(hosts)
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
    _record_host_keys(hosts)
    write_inventory(topology, hosts, public_key, tag)
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


def _lab_bastion() -> Host:
    """The lab's bastion as the runner reaches it (its master connection's identity)."""
    return Host(
        "bastion", ["bastion"], {"ansible_host": address_of("bastion"), "ansible_user": "deploy"}
    )


def down(progress: Progress | None = None) -> list[str]:
    """Remove every container and the networks the lab made; return what was removed."""
    removed = []
    # The bastion's master connection renames itself (`ssh: SOCKET [mux]`): ended by socket.
    closed = runner.close_jump(_lab_bastion())
    if _stop_ssh_masters() or closed:
        removed.append("ssh connections")
    for name in container_states():
        if progress:
            progress.update(f"removing {name}")
        _docker("rm", "-f", "-v", name)
        removed.append(name)
    networks = _docker("network", "ls", "--filter", f"label={LABEL}", "--format", "{{.Name}}")
    for network in networks.stdout.split():
        _docker("network", "rm", network)
        removed.append(f"network {network}")
    for path in (STATE_FILE, KNOWN_HOSTS, HOSTS_FILE, LAB_INVENTORY / "group_vars/all/vault.yml"):
        path.unlink(missing_ok=True)
    for disk in sorted(DISKS_DIR.glob("*")):
        _release_disk(disk)
        removed.append(f"backup disk {disk.name}")
    return removed


def ssh_command(name: str) -> list[str]:
    """OpenSSH to a lab host as the tools reach it (through the bastion when there is one)."""
    from .. import inventory, runner

    hosts = {h.name: h for h in status()}
    if name not in hosts:
        raise OpsError(
            f"no lab host named {name!r}",
            "lab hosts: " + (", ".join(hosts) or "none (run `./deploy.py lab up`)"),
        )
    inv = inventory.load(None)
    host = inv.hosts[name]
    return runner.ssh_argv(host, inv)
