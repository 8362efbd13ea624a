"""deploy.py bootstrap on real hosts (issue #21 item 1): the lab's hosts, bootstrapped by
`lab up`, refuse root and passwords and a second bootstrap changes nothing; on a throwaway
host from the bare image (root's key only, as a provider hands a server over, removed at the
end), a bootstrap whose key check fails leaves root reachable and says so, then the right key
bootstraps it and root and password logins are refused.

The throwaway host is described by an inventory of real servers (the production example
filled in: preau_ops/bootstrap/trial.py, which the bench row uses too), as an operator's would
be: one host in every group, its own known_hosts."""

import json
import subprocess
import sys

import pytest
import yaml

from preau_ops import inventory, runner
from preau_ops.bootstrap import logins, trial
from preau_ops.errors import OpsError
from preau_ops.paths import ROOT, STATE_DIR

from .conftest import deploy

pytestmark = pytest.mark.lab

BY_KEY = logins.RootAccess()  # root with the inventory's key (the lab key: root's in the image)


def test_the_lab_hosts_refuse_root_and_passwords(lab):
    for host in lab.hosts.values():
        login = logins.as_root(host, lab, BY_KEY)
        assert not login.ok, f"{host.name}: root logged in with the lab key"
        assert login.methods == ("publickey",), f"{host.name}: {login}"


def test_a_second_bootstrap_of_the_lab_changes_nothing(lab):
    outcomes = bootstrap_json(deploy("bootstrap", "--json"))
    assert {o["host"]: o["result"] for o in outcomes} == dict.fromkeys(lab.hosts, "already")
    assert not any(o["pinned_now"] for o in outcomes), "the lab's host keys were pinned by up"


# ------------------------------------------------------------------------------ bare host


@pytest.fixture(scope="module")
def site(lab, tmp_path_factory):
    """A bare host (root's key only) and its operator's inventory: (inventory directory,
    vault password file, the host's address); the host is removed at the end."""
    with trial.hosts(1) as addresses:
        ((container, address),) = addresses.items()
        accounts = subprocess.run(
            ["docker", "exec", container, "sh", "-c", "id deploy || echo none"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert accounts.stdout.strip() == "none", "the bare image has no admin account"
        target = tmp_path_factory.mktemp("bootstrap") / "site"
        inventory_dir, password = trial.operator_inventory(target, {"bare1": address})
        yield inventory_dir, password, address


def operators_key(site, public_key: str) -> None:
    base = site[0] / "group_vars/all/base.yml"
    settings = yaml.safe_load(base.read_text())
    settings["base_admin_users"] = [{"name": "deploy", "ssh_keys": [public_key]}]
    base.write_text(yaml.safe_dump(settings))


def bootstrap_of(site, *options: str):
    target, password, _ = site
    args = ["-i", str(target), "--vault-password-file", str(password), "bootstrap", *options]
    return deploy(*args, check=False, timeout=300)


def bootstrap_json(result) -> list[dict]:
    return json.loads(result.stdout)["hosts"]


def lab_public_key() -> str:
    return (STATE_DIR / "id_ed25519.pub").read_text().strip()


def test_a_failed_key_check_leaves_root_reachable_and_says_so(site, tmp_path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "k"], check=True
    )
    operators_key(site, (tmp_path / "k.pub").read_text().strip())
    result = bootstrap_of(site, "--json")
    assert result.returncode == 1, result.stdout
    (outcome,) = bootstrap_json(result)
    assert outcome["result"] == "failed", outcome
    assert outcome["detail"].startswith("root left open: the new way in does not work (deploy")
    assert "Fix the key of deploy in base_admin_users" in outcome["detail"]
    inv = inventory.load(str(site[0]), str(site[1]))
    root = logins.as_root(inv.hosts["bare1"], inv, BY_KEY, "sshd -T | grep -i ^permitrootlogin")
    assert root.ok, f"root must still log in: {root.error}"
    assert root.output.split() != ["permitrootlogin", "no"]
    assert logins.as_admin(inv.hosts["bare1"], inv).ok is False


def test_bootstrap_with_the_right_key_turns_root_and_passwords_off(site):
    operators_key(site, lab_public_key())
    result = bootstrap_of(site, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    (outcome,) = bootstrap_json(result)
    assert outcome["result"] == "bootstrapped", outcome
    inv = inventory.load(str(site[0]), str(site[1]))
    host = inv.hosts["bare1"]
    assert logins.as_admin(host, inv).ok
    root = logins.as_root(host, inv, BY_KEY)
    assert not root.ok and root.methods == ("publickey",), root


def test_a_second_bootstrap_is_a_no_op(site):
    inv = inventory.load(str(site[0]), str(site[1]))
    state = "sha256sum /etc/passwd /etc/group /etc/sudoers.d/* /etc/ssh/sshd_config.d/*"
    before = logins.as_admin(inv.hosts["bare1"], inv, f"sudo -n sh -c '{state}'")
    result = bootstrap_of(site, "--json")
    assert result.returncode == 0, result.stdout
    (outcome,) = bootstrap_json(result)
    assert outcome["result"] == "already" and not outcome["pinned_now"], outcome
    after = logins.as_admin(inv.hosts["bare1"], inv, f"sudo -n sh -c '{state}'")
    assert before.ok and after == before


def test_a_changed_host_key_is_refused_by_bootstrap_and_the_tools(site, tmp_path):
    pinned = site[0] / "known_hosts"
    kept = pinned.read_text()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "k"], check=True
    )
    impostor = (tmp_path / "k.pub").read_text().split()[1]
    pinned.write_text(f"{site[2]} ssh-ed25519 {impostor}\n")
    try:
        result = bootstrap_of(site)
        assert result.returncode == 1
        assert f"bare1 ({site[2]}): its SSH host key changed" in " ".join(result.stdout.split())
        inv = inventory.load(str(site[0]), str(site[1]))
        with (
            pytest.raises(OpsError, match=r"bare1 \(.*\): its SSH host key is not the one pinned"),
            runner.FabricSession(inv.hosts["bare1"], inv) as session,
        ):
            session.run("bare1", "true")
    finally:
        pinned.write_text(kept)


def test_root_with_a_password_asked_once_never_shown(lab, tmp_path):
    """Where the provider enabled root's password instead of a key: asked on the terminal."""
    import pexpect

    secret = "Provider-Root-Pass-1"
    provider = (
        f"rm /root/.ssh/authorized_keys; echo root:{secret} | chpasswd; "
        "printf 'PermitRootLogin yes\\nPasswordAuthentication yes\\n' "
        "> /etc/ssh/sshd_config.d/50-provider.conf; systemctl reload ssh"
    )
    with trial.hosts(1, prefix="bootstrap-trial-password-") as addresses:
        ((container, address),) = addresses.items()
        subprocess.run(["docker", "exec", container, "sh", "-c", provider], check=True)
        site, password = trial.operator_inventory(tmp_path / "site", {"bare1": address})
        args = ["-i", str(site), "--vault-password-file", str(password), "bootstrap"]
        child = pexpect.spawn(
            sys.executable, ["deploy.py", *args, "--ask-root-password", "--json"],
            cwd=ROOT, encoding="utf-8", timeout=300,
        )  # fmt: skip
        child.expect("root's password on the new hosts")
        child.sendline(secret)
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0, child.before
        assert secret not in child.before, "the password is never shown"
        (outcome,) = json.loads(child.before[child.before.index("{") :])["hosts"]
        assert outcome["result"] == "bootstrapped", outcome
        sshd = subprocess.run(
            ["docker", "exec", container, "sshd", "-T"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        assert {"permitrootlogin no", "passwordauthentication no"} <= set(sshd)
