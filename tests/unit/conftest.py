"""Fixtures for inventory tests: a writable copy of the production example, with a vault."""

import os
import shutil

import pytest
import yaml

from preau_ops.paths import INVENTORIES, ROLES

VAULT_PASSWORD = "unit-test-vault-password"


def encrypt(text: str, password: str = VAULT_PASSWORD) -> bytes:
    from ansible.parsing.vault import VaultLib, VaultSecret

    return VaultLib([("default", VaultSecret(password.encode()))]).encrypt(text.encode())


@pytest.fixture
def example(tmp_path, monkeypatch):
    """inventories/production copied to tmp as shipped: its vault is vault.yml.example
    (CHANGE-ME values) encrypted, its keys still REPLACE-ME."""
    target = tmp_path / "production"
    shutil.copytree(INVENTORIES / "production", target)
    example = target / "group_vars/all/vault.yml.example"
    (target / "group_vars/all/vault.yml").write_bytes(encrypt(example.read_text()))
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD + "\n")
    monkeypatch.setenv("PREAU_VAULT_PASSWORD_FILE", str(password_file))
    return target


@pytest.fixture
def prod(example):
    """The production example filled in as an operator would: real-looking keys, random
    secrets, the site's certificates instead of a role's snakeoil default."""
    keys = yaml.safe_load((example / "group_vars/all/vault.yml.example").read_text()) or {}
    secrets = {key: f"test-secret-{i:02d}-long-enough" for i, key in enumerate(keys)}
    (example / "group_vars/all/vault.yml").write_bytes(encrypt(yaml.safe_dump(secrets) or "{}\n"))
    fill_placeholders(example)
    return example


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """The lab's inventory as `lab up` writes it, in tmp: its group_vars, a hosts.yml from the
    lab's own writer (topology scaled), a vault with a value for every key of the template."""
    from preau_ops import inventory
    from preau_ops.lab import hosts

    target = tmp_path / "lab"
    shutil.copytree(
        INVENTORIES / "lab/group_vars", target / "group_vars", ignore=lambda *_: ["vault.yml"]
    )
    monkeypatch.setattr(hosts, "LAB_INVENTORY", target)
    monkeypatch.setattr(hosts, "HOSTS_FILE", target / "hosts.yml")
    hosts.write_inventory("scaled", hosts.planned("scaled"), ssh_test_key("preau-lab"), "baked")
    template = INVENTORIES / "production/group_vars/all/vault.yml.example"
    keys = yaml.safe_load(template.read_text()) or {}
    (target / "group_vars/all/vault.yml").write_bytes(
        encrypt(yaml.safe_dump({key: f"lab-{key}" for key in keys}))
    )
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD + "\n")
    monkeypatch.delenv("PREAU_VAULT_PASSWORD_FILE", raising=False)  # the lab's file serves
    monkeypatch.setattr(inventory, "LAB_INVENTORY", target)
    monkeypatch.setattr(inventory, "LAB_VAULT_PASSWORD", password_file)
    return target


def ssh_test_key(name: str = "test") -> str:
    """A well-formed ed25519 public key line (not anyone's key)."""
    import base64
    import hashlib

    kind = b"ssh-ed25519"
    point = hashlib.sha256(name.encode()).digest()
    blob = len(kind).to_bytes(4, "big") + kind + len(point).to_bytes(4, "big") + point
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {name}@tests"


def fill_placeholders(inventory):
    """Every REPLACE-ME string of the inventory's files replaced (keys by test keys), and each
    role default that is Debian's snakeoil pair set to a site file."""

    def filled(value, name):
        if isinstance(value, dict):
            return {k: filled(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [filled(v, name) for v in value]
        if isinstance(value, str) and "REPLACE-ME" in value:
            return ssh_test_key(str(name)) if "ssh" in str(name) else "filled-in-for-tests"
        return value

    files = [inventory / "hosts.yml", *inventory.glob("*_vars/**/*.yml")]
    for path in (f for f in files if f.name != "vault.yml"):
        data = yaml.safe_load(path.read_text())
        if data and "REPLACE-ME" in path.read_text():
            path.write_text(yaml.safe_dump(filled(data, None), sort_keys=False))
    site = {}
    for defaults in ROLES.glob("*/defaults/main.yml"):
        for key, value in (yaml.safe_load(defaults.read_text()) or {}).items():
            if "snakeoil" in str(value):
                site[key] = f"/etc/ssl/site/{key}.pem"
    if site:
        (inventory / "group_vars/all/site-certificates.yml").write_text(yaml.safe_dump(site))


def edit_yaml(path, change):
    data = yaml.safe_load(path.read_text()) or {}
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


class LocalOpsHost:
    """The ops host of the operation layer, here: its commands run in a local shell on the
    paths `ops_host_here` moved into tmp (a unit test never reaches a host or logs/)."""

    reachable = True

    def __init__(self, host, inv):
        if not LocalOpsHost.reachable:
            from preau_ops.runner import ssh_failed

            raise ssh_failed(host, ConnectionRefusedError("connection refused"))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def run(self, host, command, *, sudo=True, check=True, timeout=None, hint=None):
        import subprocess

        from preau_ops.runner import Result, checked

        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)
        return checked(Result(host.name, command, done.returncode, done.stdout, done.stderr), check)


@pytest.fixture(autouse=True)
def ops_host_here(tmp_path, monkeypatch):
    """Every unit test: the operation layer's lock and logs in tmp, its ops host local."""
    from preau_ops import operations

    here = tmp_path / "ops-layer"
    monkeypatch.setattr(operations, "LOCK_DIR", str(here / "lib/preau/operation.lock"))
    monkeypatch.setattr(operations, "REMOTE_LOG", str(here / "log/preau/operations.log"))
    monkeypatch.setattr(operations, "LOCAL_LOG", here / "controller/operations.log")
    monkeypatch.setattr(operations, "PENDING", here / "controller/operations.pending")
    monkeypatch.setattr(operations, "_LOCAL_LOCK", here / "controller/.operation.lock")
    monkeypatch.setattr(operations, "_session", LocalOpsHost)
    monkeypatch.setattr(LocalOpsHost, "reachable", True)
    return here


class RealDockerReached(AssertionError):
    """A unit test reached the machine's Docker engine."""


@pytest.fixture(autouse=True)
def no_real_docker(monkeypatch):
    """Every unit test: the machine's Docker engine out of reach (the `docker` program, the
    SDK's client, and `dockerd`, which lab.engine.ensure starts when none answers). CI runs
    this suite beside the lab, on the same engine: a unit test that reached it once removed
    the real lab's partners (7edd4f4). A test fakes that boundary."""
    import subprocess

    import docker

    real = subprocess.Popen

    class Guarded(real):  # type: ignore[misc,valid-type]
        def __init__(self, args, *rest, **kwargs):
            program = args if isinstance(args, str | bytes | os.PathLike) else args[0]
            if os.path.basename(os.fsdecode(program).split()[0]) in ("docker", "dockerd"):
                raise RealDockerReached(f"a unit test ran {args!r}: fake it (monkeypatch)")
            super().__init__(args, *rest, **kwargs)

    def refused(*args, **kwargs):
        raise RealDockerReached("a unit test made a Docker client (docker.from_env): fake it")

    monkeypatch.setattr(subprocess, "Popen", Guarded)
    monkeypatch.setattr(docker, "from_env", refused)
