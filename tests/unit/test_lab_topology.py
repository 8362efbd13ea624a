"""The lab's topologies as `lab up` plans them: stable addresses, prodlike's bastion and two
networks, and the inventory it writes (the lab tests check the same on running hosts)."""

import os

import pytest
import yaml

from preau_ops import platform
from preau_ops.lab import hosts


def test_every_host_keeps_one_number_and_future_hosts_have_theirs():
    numbers = list(hosts.ADDRESSES.values())
    assert len(numbers) == len(set(numbers))
    assert {"lb2", "db2", "backup2"} <= set(hosts.ADDRESSES)  # reserved for the HA issue (#22)
    for topology in hosts.TOPOLOGIES:
        for host in hosts.planned(topology):
            assert host.address == f"172.30.82.{hosts.ADDRESSES[host.name]}"


def test_prodlike_is_scaled_behind_a_bastion_on_two_networks():
    planned = {h.name: h for h in hosts.planned("prodlike")}
    scaled = {h.name: h.groups for h in hosts.planned("scaled")}
    assert {n: h.groups for n, h in planned.items() if n != "bastion"} == scaled
    assert planned["bastion"].groups == ("bastion",)
    for name, host in planned.items():  # the bastion too: its metrics, packages, time
        assert host.private_address == f"172.30.83.{hosts.ADDRESSES[name]}"
    assert all(h.private_address is None for h in hosts.planned("scaled"))


def test_prodlike_closes_every_way_out_but_the_apt_proxys():
    prodlike = hosts.planned("prodlike")
    assert [h.name for h in prodlike if h.outside] == ["ops"]  # the first monitoring host
    management, private, outside = hosts.networks(prodlike)
    assert management.name == hosts.MANAGEMENT.name and management.internal
    assert private.internal and not outside.internal
    assert hosts.networks(hosts.planned("scaled")) == [hosts.MANAGEMENT]
    assert not hosts.MANAGEMENT.internal


def test_the_single_host_carries_every_service_group_but_not_the_bastion():
    (ent,) = hosts.planned("single")
    assert ent.groups == platform.required_groups()
    assert "bastion" not in ent.groups


def test_the_prodlike_inventory_declares_the_bastion_and_private_addresses(tmp_path, monkeypatch):
    monkeypatch.setattr(hosts, "LAB_INVENTORY", tmp_path)
    monkeypatch.setattr(hosts, "HOSTS_FILE", tmp_path / "hosts.yml")
    hosts.write_inventory("prodlike", hosts.planned("prodlike"), "ssh-ed25519 AAAA test", "baked")
    data = yaml.safe_load((tmp_path / "hosts.yml").read_text())["all"]
    assert data["children"]["bastion"] == {"hosts": {"bastion": None}}
    assert data["hosts"]["bastion"] == {
        "ansible_host": "172.30.82.5",
        "preau_private_address": "172.30.83.5",
    }
    assert data["hosts"]["db"] == {
        "ansible_host": "172.30.82.31",
        "preau_private_address": "172.30.83.31",
    }
    hosts.write_inventory("scaled", hosts.planned("scaled"), "ssh-ed25519 AAAA test", "baked")
    data = yaml.safe_load((tmp_path / "hosts.yml").read_text())["all"]
    assert "bastion" not in data["children"]  # no empty group where there is no bastion


def test_a_debian_13_lab_runs_postgresql_17(tmp_path, monkeypatch):
    """`up --image trixie-bare`: Debian 13 has PostgreSQL 17 alone. Every host carries it as a
    host variable, which wins over the wiring's 15 (a group's variables in hosts.yml would
    not); the db host runs it, the backup host's drill uses its binaries."""
    monkeypatch.setattr(hosts, "LAB_INVENTORY", tmp_path)
    monkeypatch.setattr(hosts, "HOSTS_FILE", tmp_path / "hosts.yml")
    hosts.write_inventory(
        "standard", hosts.planned("standard"), "ssh-ed25519 AAAA test", "trixie-bare"
    )
    data = yaml.safe_load((tmp_path / "hosts.yml").read_text())["all"]["hosts"]
    versions = {name: v.get("postgresql_version") for name, v in data.items()}
    assert versions == {"web": 17, "db": 17, "ops": 17}
    hosts.write_inventory("standard", hosts.planned("standard"), "ssh-ed25519 AAAA test", "baked")
    data = yaml.safe_load((tmp_path / "hosts.yml").read_text())["all"]["hosts"]
    assert all("postgresql_version" not in v for v in data.values())


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs on this machine: root only")
def test_the_backup_disk_survives_its_host_s_reboots_and_a_new_lab_starts_empty(
    tmp_path, monkeypatch
):
    """The backup host's small disk was a tmpfs of its container: a lab reboot (the container
    restarted) emptied it, and pgBackRest then found its archive without its backups. It is a
    tmpfs on the machine, bound into the container: the container's restarts keep it; a new
    lab gets an empty one, and `down` unmounts it."""
    monkeypatch.setattr(hosts, "DISKS_DIR", tmp_path / "disks")
    host = hosts.LabHost("ops", ("backup", "monitoring"), "172.30.82.40")
    option = hosts._backup_disk(host)
    disk = tmp_path / "disks" / host.container
    try:
        assert option == (f"--mount=type=bind,source={disk},destination={hosts.BACKUP_DISK_PATH}")
        assert os.path.ismount(disk)
        (disk / "backup.info").write_text("kept")
        assert (os.statvfs(disk).f_blocks * os.statvfs(disk).f_frsize) == 256 * 1024 * 1024
        hosts._backup_disk(host)  # a new lab over an old one's disk: made empty
        assert os.path.ismount(disk) and not any(disk.iterdir())
    finally:
        hosts._release_disk(disk)
    assert not disk.exists()
