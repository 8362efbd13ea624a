"""deploy.py bootstrap on real hosts (issue #21 item 1): the lab's hosts, bootstrapped by
`lab up`, refuse root and passwords and a second bootstrap changes nothing; on a throwaway
host from the bare image (root's key only, as a provider hands a server over, removed at the
end), a bootstrap whose key check fails leaves root reachable and says so, then the right key
bootstraps it and root and password logins are refused.

The throwaway host is described by an inventory of real servers (the production example
filled in), as an operator's would be: one host in every group, its own known_hosts."""

import shutil
import subprocess
import time

import pytest
import yaml

from preau_ops import inventory, runner
from preau_ops.bootstrap import logins
from preau_ops.errors import OpsError
from preau_ops.lab import image
from preau_ops.paths import INVENTORIES, STATE_DIR
from tests.unit.conftest import VAULT_PASSWORD, encrypt, fill_placeholders

from .conftest import deploy

pytestmark = pytest.mark.lab

CONTAINER = "bootstrap-test-bare"  # not a lab host's name: `lab up`/`down` never see it
ROOT = logins.RootAccess()


def test_the_lab_hosts_refuse_root_and_passwords(lab):
    for host in lab.hosts.values():
        login = logins.as_root(host, lab, ROOT)
        assert not login.ok, f"{host.name}: root logged in with the lab key"
        assert login.methods == ("publickey",), f"{host.name}: {login}"


def test_a_second_bootstrap_of_the_lab_changes_nothing(lab):
    outcomes = bootstrap_json(deploy("bootstrap", "--json"))
    assert {o["host"]: o["result"] for o in outcomes} == dict.fromkeys(lab.hosts, "already")
    assert not any(o["pinned_now"] for o in outcomes), "the lab's host keys were pinned by up"


# ------------------------------------------------------------------------------ bare host


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def sshd_answers(address: str) -> bool:
    scan = ["ssh-keyscan", "-T", "2", address]
    return subprocess.run(scan, capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="module")
def bare_host(lab):
    """A host from the bare image on Docker's default network; its address."""
    subprocess.run(["docker", "rm", "-f", CONTAINER], capture_output=True, check=False)
    docker(
        "run", "-d", "--name", CONTAINER, "--hostname", CONTAINER, "--cap-add", "SYS_ADMIN",
        "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run",
        "--tmpfs", "/run/lock", "--stop-signal", "SIGRTMIN+3", "--dns", "127.0.0.1",
        f"{image.REPOSITORY}:bare",
    )  # fmt: skip
    try:
        address = docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", CONTAINER)
        deadline = time.monotonic() + 60
        while not sshd_answers(address):
            assert time.monotonic() < deadline, "sshd of the bare host did not answer in 60 s"
            time.sleep(0.5)
        assert docker("exec", CONTAINER, "sh", "-c", "id deploy || echo none") == "none"
        yield address
    finally:
        subprocess.run(["docker", "rm", "-f", CONTAINER], capture_output=True, check=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An operator's inventory directory (production example filled in), its key, its vault
    password file."""
    root = tmp_path_factory.mktemp("bootstrap")
    target = root / "site"
    shutil.copytree(INVENTORIES / "production", target)
    names = yaml.safe_load((target / "group_vars/all/vault.yml.example").read_text()) or {}
    secrets = {name: f"bootstrap-test-{i:02d}-long-enough" for i, name in enumerate(names)}
    (target / "group_vars/all/vault.yml").write_bytes(encrypt(yaml.safe_dump(secrets)))
    fill_placeholders(target)
    key = root / "id_ed25519"  # the lab key, as root's in the bare image, but the site's file
    shutil.copy(STATE_DIR / "id_ed25519", key)
    key.chmod(0o600)
    (root / "vault-password").write_text(VAULT_PASSWORD + "\n")
    return target, key, root / "vault-password"


def write_hosts(site, address: str, admin_public_key: str):
    target, key, _ = site
    base = target / "group_vars/all/base.yml"
    settings = yaml.safe_load(base.read_text())
    settings["base_admin_users"] = [{"name": "deploy", "ssh_keys": [admin_public_key]}]
    base.write_text(yaml.safe_dump(settings))
    groups = ("lb", "app", "db", "backup", "monitoring")
    hosts = {
        "all": {
            "hosts": {"bare1": {"ansible_host": address}},
            "vars": {
                "ansible_user": "deploy",
                "ansible_ssh_private_key_file": str(key),
                "preau_ssh_known_hosts_file": "{{ inventory_dir }}/known_hosts",
            },
            "children": {group: {"hosts": {"bare1": None}} for group in groups},
        }
    }
    (target / "hosts.yml").write_text(yaml.safe_dump(hosts))


def bootstrap_of(site, *options: str):
    target, _, password = site
    args = ["-i", str(target), "--vault-password-file", str(password), "bootstrap", *options]
    return deploy(*args, check=False, timeout=300)


def bootstrap_json(result) -> list[dict]:
    import json

    return json.loads(result.stdout)["hosts"]


def lab_public_key() -> str:
    return (STATE_DIR / "id_ed25519.pub").read_text().strip()


def test_a_failed_key_check_leaves_root_reachable_and_says_so(bare_host, site, tmp_path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "k"], check=True
    )
    write_hosts(site, bare_host, (tmp_path / "k.pub").read_text().strip())
    result = bootstrap_of(site, "--json")
    assert result.returncode == 1, result.stdout
    (outcome,) = bootstrap_json(result)
    assert outcome["result"] == "failed", outcome
    assert outcome["detail"].startswith("root left open: the new way in does not work (deploy")
    assert "Fix the key of deploy in base_admin_users" in outcome["detail"]
    inv = inventory.load(str(site[0]), str(site[2]))
    root = logins.as_root(inv.hosts["bare1"], inv, ROOT, "sshd -T | grep -i ^permitrootlogin")
    assert root.ok, f"root must still log in: {root.error}"
    assert root.output.split() != ["permitrootlogin", "no"]
    assert logins.as_admin(inv.hosts["bare1"], inv).ok is False


def test_bootstrap_with_the_right_key_turns_root_and_passwords_off(bare_host, site):
    write_hosts(site, bare_host, lab_public_key())
    result = bootstrap_of(site, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    (outcome,) = bootstrap_json(result)
    assert outcome["result"] == "bootstrapped", outcome
    inv = inventory.load(str(site[0]), str(site[2]))
    host = inv.hosts["bare1"]
    assert logins.as_admin(host, inv).ok
    root = logins.as_root(host, inv, ROOT)
    assert not root.ok and root.methods == ("publickey",), root


def test_a_second_bootstrap_is_a_no_op(bare_host, site):
    inv = inventory.load(str(site[0]), str(site[2]))
    state = "sha256sum /etc/passwd /etc/group /etc/sudoers.d/* /etc/ssh/sshd_config.d/*"
    before = logins.as_admin(inv.hosts["bare1"], inv, f"sudo -n sh -c '{state}'")
    result = bootstrap_of(site, "--json")
    assert result.returncode == 0, result.stdout
    (outcome,) = bootstrap_json(result)
    assert outcome["result"] == "already" and not outcome["pinned_now"], outcome
    after = logins.as_admin(inv.hosts["bare1"], inv, f"sudo -n sh -c '{state}'")
    assert before.ok and after == before


def test_a_changed_host_key_is_refused_by_bootstrap_and_the_tools(bare_host, site, tmp_path):
    pinned = site[0] / "known_hosts"
    kept = pinned.read_text()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "k"], check=True
    )
    impostor = (tmp_path / "k.pub").read_text().split()[1]
    pinned.write_text(f"{bare_host} ssh-ed25519 {impostor}\n")
    try:
        result = bootstrap_of(site)
        assert result.returncode == 1
        assert "bare1 (" + bare_host + "): its SSH host key changed" in " ".join(
            result.stdout.split()
        )
        inv = inventory.load(str(site[0]), str(site[2]))
        with (
            pytest.raises(OpsError, match=r"bare1 \(.*\): its SSH host key is not the one pinned"),
            runner.FabricSession(inv.hosts["bare1"], inv) as session,
        ):
            session.run("bare1", "true")
    finally:
        pinned.write_text(kept)
