"""The wiring between roles lives in the site playbook's group_vars
(playbooks/group_vars/all/wiring.yml): deploy.py sees it as Ansible does, an inventory overrides
it per group, no inventory repeats it, and the base role's defaults name no other role's files."""

import json

import yaml

from preau_ops import inventory
from preau_ops.paths import INVENTORIES, PLAYBOOKS, ROLES

from .conftest import edit_yaml
from .test_platform_map import inventory_problems

WIRING = PLAYBOOKS / "group_vars" / "all" / "wiring.yml"


def wiring() -> dict:
    return yaml.safe_load(WIRING.read_text())


def test_the_tools_see_the_wiring_as_ansible_does(prod):
    db = inventory.load(str(prod)).hosts["db1.ent.example.fr"]
    assert db.vars["postgresql_archive_command"] == "pgbackrest --stanza=preau archive-push %p"
    assert db.vars["base_ssh_allow_groups_extra"] == ["preau-backup-ssh"]
    rules = {rule["name"]: rule for rule in db.vars["base_firewall_rules"]}
    assert rules["ssh-backup-to-db"] == {
        "name": "ssh-backup-to-db",
        "groups": ["db"],
        "ports": [22],
        "from_groups": ["backup"],
    }
    # the admin ports follow the inventory's SSH sources (base_admin_sources' default)
    assert rules["monitoring-ui"]["sources"] == ["192.0.2.0/24"]


def test_an_inventory_overrides_the_wiring_per_group(prod):
    (prod / "group_vars/db").mkdir()
    (prod / "group_vars/db/postgresql.yml").write_text("backup_stanza: ent\n")
    inv = inventory.load(str(prod))
    db = inv.hosts["db1.ent.example.fr"]
    assert db.vars["postgresql_archive_command"] == "pgbackrest --stanza=ent archive-push %p"
    app = inv.hosts["app1.ent.example.fr"]
    assert "backup_stanza" not in app.vars


def test_a_wiring_value_set_in_group_vars_all_is_refused_as_ignored(prod):
    """Ansible ranks the site playbook's group_vars/all above an inventory's: a site that set
    postgresql_version: 17 there would stay on 15 without a word. It is refused, with where
    the value takes effect; the same value in group_vars/db/ loads."""
    edit_yaml(prod / "group_vars/all/postgresql.yml", lambda d: d.update(postgresql_version=17))
    assert (
        "group_vars/all/postgresql.yml: postgresql_version: set by the platform's wiring "
        "(playbooks/group_vars/all), which wins over an inventory's group_vars/all: this value "
        "would be ignored; set it in group_vars/<group>/ or host_vars/"
    ) in inventory_problems(prod)
    edit_yaml(prod / "group_vars/all/postgresql.yml", lambda d: d.pop("postgresql_version"))
    (prod / "group_vars/db").mkdir()
    (prod / "group_vars/db/postgresql.yml").write_text("postgresql_version: 17\n")
    db = inventory.load(str(prod)).hosts_in("db")[0]
    assert db.vars["postgresql_version"] == 17


def test_no_inventory_repeats_the_wiring():
    wired = set(wiring())
    for path in sorted(INVENTORIES.glob("*/group_vars/**/*.yml")):
        if path.read_text().startswith("$ANSIBLE_VAULT"):
            continue
        repeated = wired & set(yaml.safe_load(path.read_text()) or {})
        assert not repeated, f"{path}: {sorted(repeated)} are wiring (playbooks/group_vars/all)"


def test_the_base_role_defaults_name_no_other_role_file():
    values = json.dumps(yaml.safe_load((ROLES / "base/defaults/main.yml").read_text()))
    for other in ("postgresql", "pgbackrest", "nginx", "/etc/preau/", "borg", "prometheus"):
        assert other not in values, other
    assert "pgbackrest" in json.dumps(wiring()["base_auditor_sudo_commands"])
