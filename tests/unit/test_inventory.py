"""The one inventory reader: good inventories load, each kind of bad one is refused with an
error that names the file and the key."""

import pytest
import yaml

from preau_ops import inventory
from preau_ops.errors import OpsError

from .conftest import edit_yaml, encrypt


def problems_of(path) -> str:
    with pytest.raises(OpsError) as caught:
        inventory.load(str(path))
    return caught.value.message


def test_production_example_loads_with_its_groups_and_secrets(prod):
    inv = inventory.load(str(prod))
    assert set(inv.groups) >= {"lb", "app", "db", "backup", "monitoring"}
    assert [h.name for h in inv.hosts_in("app")] == ["app1.ent.example.fr", "app2.ent.example.fr"]
    app1 = inv.hosts["app1.ent.example.fr"]
    assert app1.address == "203.0.113.21"
    assert app1.user == "deploy"
    assert app1.vars["preau_domain"] == "ent.example.fr"


def test_secrets_are_templated_from_the_vault(prod):
    main = prod / "group_vars/all/main.yml"
    keys = list(yaml.safe_load((prod / "group_vars/all/vault.yml.example").read_text()) or {})
    if not keys:
        pytest.skip("no secret declared yet")
    inv = inventory.load(str(prod))
    assert any(
        str(v).startswith("test-secret-") for v in inv.hosts["db1.ent.example.fr"].vars.values()
    )
    assert main.exists()


def test_missing_required_group(prod):
    edit_yaml(prod / "hosts.yml", lambda d: d["all"]["children"].pop("backup"))
    message = problems_of(prod)
    assert "hosts.yml: all.children.backup: required group is missing" in message


def test_unknown_group_suggests_the_right_one(prod):
    def rename(d):
        d["all"]["children"]["monitor"] = d["all"]["children"].pop("monitoring")

    edit_yaml(prod / "hosts.yml", rename)
    message = problems_of(prod)
    assert "all.children.monitor: unknown group: did you mean 'monitoring'?" in message
    assert "all.children.monitoring: required group is missing" in message


def test_mistyped_variable_names_file_and_key(prod):
    edit_yaml(prod / "group_vars/all/main.yml", lambda d: d.update(preau_domian="x.fr"))
    message = problems_of(prod)
    assert (
        "group_vars/all/main.yml: preau_domian: unknown variable: did you mean 'preau_domain'?"
        in message
    )


def test_unknown_variable_in_hosts_file(prod):
    edit_yaml(
        prod / "hosts.yml", lambda d: d["all"]["hosts"]["db1.ent.example.fr"].update(colour="blue")
    )
    assert "hosts.yml: colour: unknown variable" in problems_of(prod)


def test_bad_value_is_refused_with_what_was_expected(prod):
    edit_yaml(prod / "group_vars/all/main.yml", lambda d: d.update(preau_release_keep="many"))
    message = problems_of(prod)
    assert "group_vars/all/main.yml: preau_release_keep:" in message
    assert "int" in message


def test_bad_value_names_the_file_that_sets_it_for_that_host(prod):
    # group_vars/all sets a valid value; the host's own host_vars overrides it with a bad one:
    # the error points at the host_vars file, not at the first file that named the variable.
    edit_yaml(prod / "group_vars/all/main.yml", lambda d: d.update(preau_release_keep=3))
    (prod / "host_vars").mkdir()
    (prod / "host_vars/db1.ent.example.fr.yml").write_text("preau_release_keep: many\n")
    message = problems_of(prod)
    assert "host_vars/db1.ent.example.fr.yml: preau_release_keep:" in message
    assert "host db1.ent.example.fr" in message
    assert "group_vars/all/main.yml" not in message


def test_bad_choice_is_refused(prod):
    edit_yaml(prod / "group_vars/all/main.yml", lambda d: d.update(preau_environment="prod"))
    message = problems_of(prod)
    assert "preau_environment" in message and "production" in message


def test_secret_outside_the_vault_is_refused(prod):
    edit_yaml(prod / "group_vars/all/main.yml", lambda d: d.update(vault_db_password="hunter2"))
    assert (
        "main.yml: vault_db_password: secrets (vault_*) belong in group_vars/all/vault.yml"
        in problems_of(prod)
    )


def test_plain_text_vault_is_refused(prod):
    (prod / "group_vars/all/vault.yml").write_text("vault_x: clear\n")
    assert "vault.yml: secrets file is not encrypted" in problems_of(prod)


def test_wrong_vault_password(prod, tmp_path, monkeypatch):
    wrong = tmp_path / "wrong"
    wrong.write_text("not the password\n")
    monkeypatch.setenv("PREAU_VAULT_PASSWORD_FILE", str(wrong))
    assert "vault.yml: cannot be read" in problems_of(prod)


def test_missing_vault_password_is_a_clear_error(prod, monkeypatch):
    monkeypatch.delenv("PREAU_VAULT_PASSWORD_FILE")
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert "no vault password was given" in problems_of(prod)


def test_malformed_yaml_names_the_line(prod):
    (prod / "group_vars/all/main.yml").write_text("preau_domain: [unclosed\nother: 1\n")
    message = problems_of(prod)
    assert "group_vars/all/main.yml: not valid YAML (line" in message


def test_hosts_file_must_start_with_all(prod):
    (prod / "hosts.yml").write_text("servers:\n  hosts:\n    a:\n")
    assert "must have a single top-level key `all:`" in problems_of(prod)


def test_group_vars_of_unknown_group(prod):
    (prod / "group_vars/webservers.yml").write_text("preau_domain: a.fr\n")
    assert "group_vars/webservers.yml: group_vars for unknown group 'webservers'" in problems_of(
        prod
    )


def test_host_vars_of_unknown_host(prod):
    (prod / "host_vars").mkdir()
    (prod / "host_vars/ghost.example.fr.yml").write_text("ansible_port: 22\n")
    assert "host_vars for unknown host 'ghost.example.fr'" in problems_of(prod)


def test_every_problem_is_reported_at_once(prod):
    edit_yaml(
        prod / "group_vars/all/main.yml",
        lambda d: d.update(preau_domian="x", preau_enviroment="lab"),
    )
    message = problems_of(prod)
    assert "2 problems" in message


def test_inventory_not_found():
    with pytest.raises(OpsError, match="not found"):
        inventory.load("/nonexistent/inventory")


def test_limit_accepts_hosts_and_groups_and_refuses_unknown(prod):
    inv = inventory.load(str(prod))
    assert {h.name for h in inv.limited("db,app")} == {
        "db1.ent.example.fr",
        "app1.ent.example.fr",
        "app2.ent.example.fr",
    }
    with pytest.raises(OpsError, match="matches no host or group"):
        inv.limited("dbs")


def test_vault_secret_in_encrypted_file_is_accepted(prod):
    path = prod / "group_vars/all/vault.yml"
    path.write_bytes(encrypt("vault_extra_secret: s3cret-value-for-tests\n"))
    inventory.load(str(prod))


def test_the_production_example_waiver_is_valid(prod):
    """The commented entry of the production example's audit.yml, uncommented, passes the
    checks an audit makes when it starts (against the catalogue and the example's groups)."""
    from preau_ops.audit import catalogue, waivers

    text = (prod / "group_vars/all/audit.yml").read_text()
    example = "\n".join(line[4:] for line in text.splitlines() if line.startswith("#   "))
    inv = inventory.load(str(prod))
    controls = {c.id for c in catalogue.declared().values()}
    (waiver,) = waivers.parse(yaml.safe_load(example), controls, inv.hosts, inv.groups, "x")
    assert waiver.control == "LYNIS-01" and waiver.members == frozenset(inv.groups["backup"])
    assert yaml.safe_load(text)["audit_waivers"] == []  # the example only: nothing waived
