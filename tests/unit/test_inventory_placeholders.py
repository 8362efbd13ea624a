"""An inventory of real servers may not carry the example's placeholders, Debian's snakeoil
certificate, an operator whose keys would all be removed, the lab's settings, nor a vault in
clear (issue #21, item 2): each is refused naming the file, the variable and the host. The
filled-in production example and the lab's own inventory pass."""

import pytest
import yaml

from preau_ops import inventory, inventory_checks
from preau_ops.errors import OpsError

from .conftest import edit_yaml, encrypt, ssh_test_key

HOSTS = (
    "lb1.ent.example.fr",
    "app1.ent.example.fr",
    "app2.ent.example.fr",
    "db1.ent.example.fr",
    "backup1.ent.example.fr",
    "mon1.ent.example.fr",
)


def problems_of(path) -> list[str]:
    with pytest.raises(OpsError) as caught:
        inventory.load(str(path))
    return [line for line in caught.value.message.splitlines() if line.startswith("  - ")]


def problem(path, where: str) -> str:
    """The one problem reported for `file: variable`."""
    found = [line for line in problems_of(path) if f"{where}:" in line]
    assert len(found) == 1, problems_of(path)
    return found[0]


def set_vars(path, **values):
    edit_yaml(path, lambda data: data.update(values))


def test_the_filled_in_production_example_passes(prod):
    assert set(inventory.load(str(prod)).hosts) == set(HOSTS)


def test_the_example_as_shipped_is_refused_for_each_placeholder(example):
    listing = "\n".join(problems_of(example))
    assert "group_vars/all/base.yml: base_admin_users[0].ssh_keys[0]: SSH key still" in listing
    assert "group_vars/all/base.yml: base_auditor_ssh_keys[0]: SSH key still" in listing
    secrets = yaml.safe_load((example / "group_vars/all/vault.yml.example").read_text())
    for name in secrets:
        assert f"group_vars/all/vault.yml: {name}: " in listing
        line = next(line for line in listing.splitlines() if f"vault.yml: {name}: " in line)
        assert "the example's placeholder" in line and "db1.ent.example.fr" in line


def test_an_ssh_key_left_replace_me_names_file_variable_and_hosts(prod):
    base = prod / "group_vars/all/base.yml"
    edit_yaml(base, lambda d: d["base_admin_users"][0].update(ssh_keys=["AAAA REPLACE-ME"]))
    line = problem(prod, "group_vars/all/base.yml: base_admin_users[0].ssh_keys[0]")
    assert "SSH key still the example's placeholder REPLACE-ME" in line
    assert all(host in line for host in HOSTS)


def test_the_auditor_key_left_replace_me(prod):
    set_vars(prod / "group_vars/all/base.yml", base_auditor_ssh_keys=["REPLACE-ME auditor"])
    line = problem(prod, "group_vars/all/base.yml: base_auditor_ssh_keys[0]")
    assert "REPLACE-ME" in line and "mon1.ent.example.fr" in line


def test_a_secret_left_change_me_names_the_vault_and_the_variable(prod):
    vault = prod / "group_vars/all/vault.yml"
    secrets = {"vault_app_django_secret_key": "CHANGE-ME-django-secret-key"}
    vault.write_bytes(encrypt(yaml.safe_dump(secrets)))
    line = problem(prod, "group_vars/all/vault.yml: vault_app_django_secret_key")
    assert "'CHANGE-ME-django-secret-key'" in line
    assert "app1.ent.example.fr" in line


def test_a_real_secret_that_contains_the_word_is_not_shown(prod):
    vault = prod / "group_vars/all/vault.yml"
    vault.write_bytes(encrypt(yaml.safe_dump({"vault_extra": "s3cret-CHANGE-ME-x"})))
    line = problem(prod, "group_vars/all/vault.yml: vault_extra")
    assert "s3cret" not in line


def test_a_placeholder_in_a_host_variable_names_that_host_only(prod):
    (prod / "host_vars").mkdir()
    (prod / "host_vars/db1.ent.example.fr.yml").write_text(
        "postgresql_ssl_cert_file: /etc/ssl/REPLACE-ME.pem\n"
    )
    line = problem(prod, "host_vars/db1.ent.example.fr.yml: postgresql_ssl_cert_file")
    assert line.endswith("(host db1.ent.example.fr)")


def test_debians_snakeoil_set_for_a_service(prod):
    set_vars(
        prod / "group_vars/all/nginx.yml",
        nginx_tls_mode="provided",
        nginx_tls_cert_file="/etc/ssl/certs/ssl-cert-snakeoil.pem",
        nginx_tls_key_file="/etc/ssl/private/ssl-cert-snakeoil.key",
    )
    line = problem(prod, "group_vars/all/nginx.yml: nginx_tls_cert_file")
    assert "Debian's snakeoil certificate (set here)" in line
    assert line.endswith("(host lb1.ent.example.fr)")


def test_a_roles_snakeoil_default_counts(prod, monkeypatch):
    """As the postgresql role had it before the internal PKI: a default no inventory set."""
    real = inventory_checks._defaults_of

    def defaults(role):
        values = dict(real(role))
        if role == "postgresql":
            values["postgresql_ssl_cert_file"] = "/etc/ssl/certs/ssl-cert-snakeoil.pem"
        return values

    monkeypatch.setattr(inventory_checks, "_defaults_of", defaults)
    (prod / "group_vars/all/site-certificates.yml").unlink(missing_ok=True)
    line = problem(prod, "roles/postgresql/defaults/main.yml: postgresql_ssl_cert_file")
    assert "(the role's default)" in line and line.endswith("(host db1.ent.example.fr)")


def test_an_operator_without_keys_while_keys_are_exclusive(prod):
    base = prod / "group_vars/all/base.yml"
    edit_yaml(base, lambda d: d["base_admin_users"].append({"name": "jdupont", "ssh_keys": []}))
    line = problem(prod, "group_vars/all/base.yml: base_admin_users[1].ssh_keys")
    assert "'jdupont'" in line and "locked out" in line and "app2.ent.example.fr" in line
    set_vars(base, base_admin_keys_exclusive=False)
    inventory.load(str(prod))


def test_an_operator_marked_absent_needs_no_key(prod):
    base = prod / "group_vars/all/base.yml"
    edit_yaml(base, lambda d: d["base_admin_users"].append({"name": "left", "state": "absent"}))
    inventory.load(str(prod))


def test_no_operator_at_all(prod):
    set_vars(prod / "group_vars/all/base.yml", base_admin_users=[])
    assert "no operator declared" in problem(prod, "group_vars/all/base.yml: base_admin_users")


def test_a_truncated_ssh_key_is_refused(prod):
    key = ssh_test_key("jdupont")
    base = prod / "group_vars/all/base.yml"
    edit_yaml(base, lambda d: d["base_admin_users"][0].update(ssh_keys=[key[:40]]))
    line = problem(prod, "group_vars/all/base.yml: base_admin_users[0].ssh_keys[0]")
    assert "not an SSH public key" in line


LAB_SETTINGS = [
    ("main.yml", "preau_environment", "lab"),
    ("main.yml", "preau_lab_topology", "scaled"),
    ("main.yml", "preau_lab_ssh_public_key", "ssh-ed25519 AAAA preau-lab"),
    ("app.yml", "app_environment", "test"),
    ("app.yml", "app_antivirus_local_signatures", [{"name": "x.hdb", "content": "x"}]),
    ("monitoring.yml", "monitoring_environment", "lab"),
    ("monitoring.yml", "monitoring_public_probe_verify_tls", False),
    ("monitoring.yml", "monitoring_alert_email_enabled", False),
    ("nginx.yml", "nginx_tls_mode", "local_ca"),
    ("base.yml", "base_in_container", True),
    ("main.yml", "preau_ssh_known_hosts_file", "/work/main/.lab/known_hosts"),
]


@pytest.mark.parametrize(("file", "name", "value"), LAB_SETTINGS)
def test_a_lab_only_setting_is_refused(prod, file, name, value):
    set_vars(prod / "group_vars/all" / file, **{name: value})
    line = problem(prod, f"group_vars/all/{file}: {name}")
    role = name.split("_")[0]
    host = {"app": "app2", "nginx": "lb1"}.get(role, "db1") + ".ent.example.fr"
    assert "lab" in line and host in line


def test_a_vault_in_clear_is_refused(prod):
    vault = prod / "group_vars/all/vault.yml"
    vault.write_text("vault_app_django_secret_key: a-real-secret-in-clear\n")
    line = problem(prod, "group_vars/all/vault.yml")
    assert "secrets file is not encrypted: run `ansible-vault encrypt" in line


def test_the_labs_own_inventory_passes(lab):
    inv = inventory.load(str(lab))
    assert inv.is_lab and inv.hosts["db"].vars["preau_lab_topology"] == "scaled"


def test_a_copy_of_the_lab_is_held_to_the_production_rules(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("PREAU_VAULT_PASSWORD_FILE", str(inventory.LAB_VAULT_PASSWORD))
    monkeypatch.setattr(inventory, "LAB_INVENTORY", tmp_path / "elsewhere")
    listing = "\n".join(problems_of(lab))
    assert "hosts.yml: preau_lab_topology: lab-only setting" in listing
    assert "group_vars/all/main.yml: preau_environment: lab-only value 'lab'" in listing
    assert "group_vars/all/nginx.yml: nginx_tls_mode: lab-only value 'local_ca'" in listing


def test_a_placeholder_a_command_writes_is_refused_for_every_other_command(prod):
    import argparse

    from preau_ops.commands._common import load

    vault = prod / "group_vars/all/vault.yml"
    vault.write_bytes(encrypt(yaml.safe_dump({"vault_ca": "CHANGE-ME-run-deploy.py-pki-init"})))
    line = problem(prod, "group_vars/all/vault.yml: vault_ca")
    assert "run `deploy.py pki init` first" in line
    args = argparse.Namespace(command="pki", pki_command="init", inventory=str(prod))
    assert load(args).hosts  # the command that writes it loads the inventory
    with pytest.raises(OpsError, match="pki init"):
        load(argparse.Namespace(command="pki", pki_command="rotate", inventory=str(prod)))


def test_deploy_py_refuses_the_example_as_shipped(example):
    """The real CLI, as an operator runs it before day 0: exit 1, each kind named."""
    import os
    import subprocess
    import sys

    from preau_ops.paths import ROOT

    password = os.environ["PREAU_VAULT_PASSWORD_FILE"]  # the fixture's

    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy.py"), "-i", str(example), "inventory", "check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "400", "PREAU_VAULT_PASSWORD_FILE": password},
    )
    assert result.returncode == 1
    text = " ".join(result.stdout.split())
    assert "base_admin_users[0].ssh_keys[0]: SSH key still the example's placeholder" in text
    assert "vault_app_django_secret_key: secret still the example's placeholder" in text
    assert "hint: nothing was run; fix the inventory and try again" in text
