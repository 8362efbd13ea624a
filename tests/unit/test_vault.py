"""`deploy.py vault rekey` (issue #21 item 7) with the real ansible-vault on temporary files:
every vault file to the new password or none, the old password refused afterwards, the leaver
refused until the inventory marks them absent, their removal (a converge of the accounts)
before the rekey, the secrets they knew listed. Hosts are the one faked boundary here: the
removal on real hosts is tests/lab/test_39_vault.py."""

import json
import os

import pytest
import yaml

from preau_ops import commands, converge
from preau_ops import vault as vault_ops
from preau_ops.converge import HostResult, RunResult
from preau_ops.errors import OpsError

from .conftest import VAULT_PASSWORD, edit_yaml, encrypt, ssh_test_key

NEW_PASSWORD = "a-new-vault-password-for-tests"


@pytest.fixture
def passwords(tmp_path):
    old, new = tmp_path / "old-password", tmp_path / "new-password"
    old.write_text(VAULT_PASSWORD + "\n")
    new.write_text(NEW_PASSWORD + "\n")
    return old, new


def vault_file(path, text, password=VAULT_PASSWORD):
    path.write_bytes(encrypt(text, password))
    return path


def leftovers(directory):
    return sorted(p.name for p in directory.rglob(".*rekey*"))


def test_rekey_every_file_and_the_old_password_no_longer_opens_them(tmp_path, passwords):
    old, new = passwords
    files = [vault_file(tmp_path / f"vault{i}.yml", f"vault_s{i}: secret-{i}\n") for i in (1, 2)]
    vault_ops.rekey(files, old, new)
    for i, file in enumerate(files, start=1):
        assert vault_ops.decrypt(file, new) == f"vault_s{i}: secret-{i}\n"
        with pytest.raises(OpsError, match="does not open with this vault password"):
            vault_ops.decrypt(file, old)
    assert leftovers(tmp_path) == []


def test_a_file_that_fails_leaves_every_file_as_it_was(tmp_path, passwords):
    old, new = passwords
    first = vault_file(tmp_path / "a.yml", "vault_a: 1\n")
    other = vault_file(tmp_path / "b.yml", "vault_b: 2\n", password="another-password-entirely")
    before = {f: f.read_bytes() for f in (first, other)}
    with pytest.raises(OpsError) as caught:
        vault_ops.rekey([first, other], old, new)
    assert "b.yml" in caught.value.message
    assert {f: f.read_bytes() for f in (first, other)} == before
    assert vault_ops.decrypt(first, old) == "vault_a: 1\n"
    assert leftovers(tmp_path) == []


def test_a_rename_that_fails_half_way_puts_the_first_back(tmp_path, passwords, monkeypatch):
    old, new = passwords
    files = [vault_file(tmp_path / f"v{i}.yml", f"vault_v{i}: x\n") for i in (1, 2, 3)]
    before = [f.read_bytes() for f in files]
    real_replace, calls = os.replace, []

    def replace(source, target):
        calls.append(target)
        if len(calls) == 2:  # the second swap: the first file is already the new one
            raise OSError("disk on fire")
        real_replace(source, target)

    monkeypatch.setattr(vault_ops.os, "replace", replace)
    with pytest.raises(OpsError, match="disk on fire"):
        vault_ops.rekey(files, old, new)
    assert [f.read_bytes() for f in files] == before
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------- the command


def run_cli(*args):
    return commands.main(list(args))


def printed(capsys) -> str:
    """What the command printed, with the console's line wrapping undone."""
    return " ".join(capsys.readouterr().out.split())


def rekey_args(inventory, new, *more):
    return ("vault", "rekey", "-i", str(inventory), "--new-password-file", str(new), *more)


def test_the_command_rekeys_the_inventory_and_lists_the_secrets(prod, passwords, capsys):
    _, new = passwords
    assert run_cli(*rekey_args(prod, new, "--json")) == 0
    report = json.loads(capsys.readouterr().out)
    secrets = yaml.safe_load((prod / "group_vars/all/vault.yml.example").read_text())
    assert sorted(report["rotate_next"]) == sorted(secrets)
    assert report["files"] == [str(prod / "group_vars/all/vault.yml")]
    assert "vault_" in vault_ops.decrypt(prod / "group_vars/all/vault.yml", new)
    assert run_cli("inventory", "check", "-i", str(prod)) == 1  # the old password: refused


def test_a_short_or_unchanged_new_password_is_refused(prod, tmp_path, capsys):
    vault = prod / "group_vars/all/vault.yml"
    before = vault.read_bytes()
    for password in ("short-one", VAULT_PASSWORD):
        file = tmp_path / "new"
        file.write_text(password + "\n")
        assert run_cli(*rekey_args(prod, file)) == 1
    out = printed(capsys)
    assert "shorter than 16 characters" in out and "is the current one" in out
    assert vault.read_bytes() == before


def add_admin(prod, **admin):
    edit_yaml(prod / "group_vars/all/base.yml", lambda d: d["base_admin_users"].append(admin))


@pytest.fixture
def no_hosts(monkeypatch):
    """The hosts faked: converges recorded (all ok), the account gone everywhere."""
    runs = []

    def run_playbook(inv, **options):
        runs.append(options)
        return RunResult("successful", 0, {h: HostResult(ok=3, changed=1) for h in inv.hosts}, 1)

    monkeypatch.setattr(converge, "run_playbook", run_playbook)
    monkeypatch.setattr(
        vault_ops, "accounts_left", lambda inv, name: dict.fromkeys(inv.hosts, False)
    )
    return runs


def test_a_leaver_still_present_is_refused_with_the_yaml_to_write(
    prod, passwords, no_hosts, capsys
):
    _, new = passwords
    add_admin(prod, name="jdupont", ssh_keys=[ssh_test_key("jdupont")])
    before = (prod / "group_vars/all/vault.yml").read_bytes()
    assert run_cli(*rekey_args(prod, new, "--remove-operator", "jdupont")) == 1
    out = printed(capsys)
    assert "does not mark 'jdupont' absent" in out and "state: absent" in out
    assert no_hosts == [] and (prod / "group_vars/all/vault.yml").read_bytes() == before


def test_an_unknown_leaver_and_the_connection_user_are_refused(prod, passwords, no_hosts, capsys):
    _, new = passwords
    assert run_cli(*rekey_args(prod, new, "--remove-operator", "nobody")) == 1
    assert run_cli(*rekey_args(prod, new, "--remove-operator", "deploy")) == 1
    out = printed(capsys)
    assert "it says unknown" in out and "the account deploy.py connects with" in out
    assert no_hosts == []


def test_the_leaver_is_removed_by_the_accounts_converge_then_the_vault_rekeyed(
    prod, passwords, no_hosts, capsys
):
    _, new = passwords
    add_admin(prod, name="jdupont", state="absent")
    assert run_cli(*rekey_args(prod, new, "--remove-operator", "jdupont", "--json")) == 0
    report = json.loads(capsys.readouterr().out)
    assert no_hosts == [{"tags": "base-users", "progress": no_hosts[0]["progress"]}]
    assert report["operator"]["name"] == "jdupont"
    assert len(report["operator"]["absent_on"]) == 6
    assert "vault_app_django_secret_key" in report["rotate_next"]
    vault_ops.decrypt(prod / "group_vars/all/vault.yml", new)


def test_a_failed_accounts_converge_rekeys_nothing(prod, passwords, monkeypatch, capsys):
    _, new = passwords
    add_admin(prod, name="jdupont", state="absent")
    failed = HostResult(failed=1, errors=["Install the admin keys: boom"])
    monkeypatch.setattr(
        converge,
        "run_playbook",
        lambda inv, **o: RunResult("failed", 2, {"db1.ent.example.fr": failed}, 1),
    )
    before = (prod / "group_vars/all/vault.yml").read_bytes()
    assert run_cli(*rekey_args(prod, new, "--remove-operator", "jdupont")) == 1
    out = printed(capsys)
    assert "db1.ent.example.fr: Install the admin keys: boom" in out
    assert "nothing was rekeyed" in out
    assert (prod / "group_vars/all/vault.yml").read_bytes() == before


def test_in_the_lab_the_password_file_is_swapped_with_the_vault(lab, passwords, capsys):
    from preau_ops import inventory

    _, new = passwords
    assert run_cli(*rekey_args(lab, new)) == 0
    assert inventory.LAB_VAULT_PASSWORD.read_text().strip() == NEW_PASSWORD
    assert inventory.load(str(lab)).is_lab  # the tools open it with the lab's file
    assert "written to" in capsys.readouterr().out


def test_values_encrypted_inline_are_refused(prod, passwords, capsys):
    _, new = passwords
    inline = "vault_extra: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n"
    (prod / "group_vars/all/extra.yml").write_text(inline)
    before = (prod / "group_vars/all/vault.yml").read_bytes()
    assert run_cli(*rekey_args(prod, new)) == 1
    out = printed(capsys)
    assert "values encrypted inline (!vault) in" in out and "extra.yml" in out
    assert (prod / "group_vars/all/vault.yml").read_bytes() == before
