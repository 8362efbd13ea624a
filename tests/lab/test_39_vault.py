"""An operator leaves (issue #21 item 7): a temporary operator's account and key are added by
a converge of the accounts, then `deploy.py vault rekey --remove-operator` removes them from
every host and gives the lab's vault a new password, in one operation. The key is refused
afterwards, the old password no longer opens the vault.

The temporary operator lives in a variables file of its own beside the lab's base.yml (later
in name order, so its base_admin_users wins), removed at the end whatever happens."""

import json
import secrets
import subprocess

import pytest
import yaml

from preau_ops import inventory, runner
from preau_ops import vault as vault_ops
from preau_ops.errors import OpsError
from preau_ops.paths import LAB_INVENTORY

from .conftest import deploy

LEAVER = "preau-test-leaver"
OPERATOR_FILE = LAB_INVENTORY / "group_vars/all/zz-test-operator.yml"


def declare(state: str, public_key: str) -> None:
    """The lab's operators plus the leaver in this state."""
    base = yaml.safe_load((LAB_INVENTORY / "group_vars/all/base.yml").read_text())
    leaver = {"name": LEAVER, "comment": "lab test (test_39)", "state": state}
    leaver |= {"ssh_keys": [public_key]} if state == "present" else {}
    OPERATOR_FILE.write_text(
        yaml.safe_dump({"base_admin_users": [*base["base_admin_users"], leaver]})
    )


@pytest.fixture
def leaver_key(platform, tmp_path):
    key = tmp_path / "leaver"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", LEAVER, "-f", str(key)], check=True
    )
    yield key
    try:
        lab = inventory.load(None)
        if set(authorized_keys(lab).values()) != {"none"}:  # a failed run: no account left
            declare("absent", "")
            deploy("converge", "--tags", "base-users")
    finally:
        OPERATOR_FILE.unlink(missing_ok=True)


def authorized_keys(lab) -> dict[str, str]:
    command = f"sudo -n cat /home/{LEAVER}/.ssh/authorized_keys 2>/dev/null || echo none"
    return runner.run_everywhere(lab, command)


def login_as_leaver(lab, host, key) -> subprocess.CompletedProcess:
    as_leaver = inventory.Host(host.name, host.groups, {**host.vars, "ansible_user": LEAVER})
    options = runner.ssh_options(as_leaver, lab)
    command = ["ssh", *options, "-o", f"IdentityFile={key}", "-o", "IdentitiesOnly=yes"]
    command += ["-p", str(host.port), f"{LEAVER}@{host.address}", "true"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_an_operator_who_leaves_is_removed_everywhere_and_the_vault_rekeyed(
    platform, leaver_key, tmp_path
):
    public_key = leaver_key.with_suffix(".pub").read_text().strip()
    declare("present", public_key)
    deploy("converge", "--tags", "base-users")
    lab = inventory.load(None)
    assert set(authorized_keys(lab).values()) == {public_key}, "the key is on every host"

    declare("absent", public_key)
    old = tmp_path / "old-password"
    old.write_bytes(inventory.LAB_VAULT_PASSWORD.read_bytes())
    new = tmp_path / "new-password"
    new.write_text(f"lab-test-39-{secrets.token_urlsafe(18)}\n")  # new at every run
    result = deploy(
        "vault", "rekey", "--remove-operator", LEAVER, "--new-password-file", str(new), "--json"
    )
    report = json.loads(result.stdout)

    assert sorted(report["operator"]["absent_on"]) == sorted(lab.hosts)
    assert "vault_app_django_secret_key" in report["rotate_next"]
    assert set(authorized_keys(lab).values()) == {"none"}
    gone = runner.run_everywhere(
        lab, f"getent passwd {LEAVER} || test -e /home/{LEAVER} || echo gone"
    )
    assert set(gone.values()) == {"gone"}
    host = lab.hosts_in("app")[0]
    refused = login_as_leaver(lab, host, leaver_key)
    assert refused.returncode == 255 and "Permission denied" in refused.stderr
    assert inventory.LAB_VAULT_PASSWORD.read_bytes() == new.read_bytes()
    vault_file = LAB_INVENTORY / "group_vars/all/vault.yml"
    vault_ops.decrypt(vault_file, new)
    with pytest.raises(OpsError, match="does not open"):
        vault_ops.decrypt(vault_file, old)
