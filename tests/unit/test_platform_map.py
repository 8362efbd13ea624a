"""The platform map (playbooks/group_vars/all/platform.yml) is the one declaration of the groups,
the roles each runs, their units and packages and the patch order: site.yml, the roles and
the Python modules must agree with it, and neither an inventory nor a module may redefine it."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from preau_ops import inventory, platform
from preau_ops.errors import OpsError
from preau_ops.paths import PLAYBOOKS, ROLES, ROOT

from .conftest import edit_yaml

SITE = PLAYBOOKS / "site.yml"
SUFFIXES = (".service", ".timer", ".socket")
# The platform's wiring (the values the map's references take: postgresql_version).
WIRING = yaml.safe_load((PLAYBOOKS / "group_vars" / "all" / "wiring.yml").read_text())


def site_plays() -> list[dict]:
    return yaml.safe_load(SITE.read_text())


def role_plays() -> list[tuple[str, str]]:
    """(hosts pattern, role) of every site.yml play that runs a role, in order."""
    pairs = []
    for play in site_plays():
        for role in play.get("roles") or []:
            pairs.append((play["hosts"], role["role"] if isinstance(role, dict) else role))
    return pairs


# --------------------------------------------------------------------------- the reader


def test_a_host_runs_the_roles_of_its_groups_and_of_every_host():
    assert platform.roles_for(["app"]) == ("base", "pki", "app", "backup", "monitoring")
    # etcd: the map's groups of the role; site.yml plays it only where Patroni runs
    assert platform.roles_for(["backup", "monitoring"]) == (
        "apt_proxy",
        "base",
        "pki",
        "etcd",
        "backup",
        "monitoring",
    )
    assert platform.roles_for([]) == ("base", "pki", "monitoring")


def test_status_shows_every_hosts_services_first_then_each_groups_once():
    assert platform.services(["lb", "lb", "ungrouped"], {}) == [
        "ssh",
        "nftables",
        "prometheus-node-exporter",
        "nginx",
        "prometheus-nginx-exporter",
    ]


def test_the_maps_postgresql_units_name_the_hosts_major_version():
    """Debian 12's 15 or Debian 13's 17 (issue #27): the map names `postgresql_version`, which
    each host's variables resolve; a map naming a variable the host lacks is refused by name."""
    assert platform.services(["db"], {"postgresql_version": 17})[3] == "postgresql@17-main"
    units = [platform.render(u, {"postgresql_version": 15}) for u in platform.units("db")]
    assert "postgresql@15-main.service" in units
    with pytest.raises(OpsError, match="'postgresql_version'"):
        platform.services(["db"], {})


def test_patch_order_names_every_group_once_and_groups_are_required_but_the_bastion():
    assert sorted(platform.patch_order()) == sorted(platform.groups())
    assert platform.patch_order()[0] == "bastion"
    assert platform.required_groups() == tuple(g for g in platform.groups() if g != "bastion")


def test_a_broken_map_is_refused_with_what_is_wrong(tmp_path, monkeypatch):
    broken = tmp_path / "platform.yml"
    data = yaml.safe_load(platform.MAP_FILE.read_text())
    data["preau_platform"]["roles"]["nginx"] = ["lb", "proxy"]
    broken.write_text(yaml.safe_dump(data))
    monkeypatch.setattr(platform, "MAP_FILE", broken)
    platform._map.cache_clear()
    try:
        with pytest.raises(OpsError, match=r"roles.nginx names unknown groups \['proxy'\]"):
            platform.groups()
    finally:
        platform._map.cache_clear()


def test_an_unknown_group_is_refused_with_the_known_ones():
    with pytest.raises(OpsError) as caught:
        platform.units("proxy")
    assert caught.value.hint == "groups are lb, app, db, backup, monitoring, bastion"


# --------------------------------------------------------------------------- site.yml


def test_site_plays_run_the_maps_roles_on_the_maps_groups_in_its_order():
    declared = [(":".join(groups), role) for role, groups in platform.role_groups().items()]
    assert role_plays() == declared


def test_every_group_has_a_play():
    """A group is named by a play, or a role played on every host acts on it by name."""
    named = {g for hosts, _ in role_plays() for g in hosts.split(":")}
    everywhere = [r for r, groups in platform.role_groups().items() if "all" in groups]
    tasks = "".join(p.read_text() for r in everywhere for p in (ROLES / r / "tasks").glob("*.yml"))
    for group in platform.groups():
        assert group in named or f"'{group}' in group_names" in tasks, f"no play for {group}"


def test_every_role_directory_is_in_the_map():
    directories = {p.name for p in ROLES.iterdir() if (p / "tasks").is_dir()}
    assert directories == set(platform.role_groups())


# --------------------------------------------------------------------------- the roles


def role_text() -> str:
    """What the roles install and start (tasks, handlers, templates, vars, defaults, files),
    with `{{ variable }}` replaced by the role's default when it has a plain one."""
    defaults: dict = {}
    for path in ROLES.glob("*/defaults/main.yml"):
        defaults.update(yaml.safe_load(path.read_text()) or {})
    parts = [
        p.read_text(errors="replace")
        for kind in ("tasks", "handlers", "templates", "vars", "defaults", "files")
        for p in ROLES.glob(f"*/{kind}/**/*")
        if p.is_file()
    ]

    def plain(match: re.Match) -> str:
        value = defaults.get(match.group(1))
        return str(value) if isinstance(value, str | int) else match.group(0)

    return re.sub(r"\{\{\s*(\w+)\s*\}\}", plain, "\n".join(parts))


def test_the_maps_units_and_packages_are_the_roles():
    text = role_text()
    names = set(platform.not_in_container_units())
    for group in ("all", *platform.groups()):
        units = [platform.render(unit, WIRING) for unit in platform.units(group)]
        names |= {*platform.services([group], WIRING), *units, *platform.packages(group)}
    for name in sorted(names):
        stem = name.removesuffix(Path(name).suffix) if name.endswith(SUFFIXES) else name
        assert re.search(rf"(?<![\w@.-]){re.escape(stem)}(?![\w@-])", text), (
            f"{name}: no role has it"
        )


def test_the_maps_package_variables_are_role_defaults():
    defaults = set()
    for path in ROLES.glob("*/defaults/main.yml"):
        defaults |= set(yaml.safe_load(path.read_text()) or {})
    for group in ("all", *platform.groups()):
        assert set(platform.package_vars(group)) <= defaults, group


# --------------------------------------------------------------------------- Python


def _group_table(node: ast.AST, groups: set[str], roles: set[str]) -> bool:
    """A dict keyed only by group (or role) names, or a sequence of three or more group names."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Dict):
            keys = [k.value for k in sub.keys if isinstance(k, ast.Constant)]
            names = [k for k in keys if isinstance(k, str)]
            if (
                len(names) >= 2
                and len(names) == len(sub.keys)
                and (set(names) <= groups or set(names) <= roles)
            ):
                return True
        if isinstance(sub, ast.Tuple | ast.List | ast.Set):
            values = [e.value for e in sub.elts if isinstance(e, ast.Constant)]
            if len(values) >= 3 and len(values) == len(sub.elts) and set(values) <= groups:
                return True
    return False


def group_tables(path: Path) -> list[int]:
    """Lines of the module- and class-level assignments of `path` that spell out a table of groups."""
    groups = {"all", *platform.groups()}
    roles = set(platform.role_groups())
    tree = ast.parse(path.read_text())
    scopes = [tree, *(n for n in tree.body if isinstance(n, ast.ClassDef))]
    return [
        statement.lineno
        for scope in scopes
        for statement in scope.body
        if isinstance(statement, ast.Assign | ast.AnnAssign)
        and statement.value is not None
        and _group_table(statement.value, groups, roles)
    ]


def test_the_table_finder_sees_the_tables_it_forbids_and_no_more(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        'ORDER = ("monitoring", "backup", "db", "app", "lb")\n'  # 1: patch order
        'UNITS = {"all": [], "db": ["postgresql"]}\n'  # 2: units by group
        "class Roles:\n"
        "    ON = {'base': ['all'], 'nginx': ['lb']}\n"  # 4: role -> groups
        'PAIR = ("lb", "app")\n'  # where a login is refused: not a table
        'ADDRESSES = {"lb": 12, "app1": 21, "db": 31}\n'  # keyed by host names
        "def clients(host):\n"
        "    return {'app', 'backup', 'db'} & set(host)\n"  # a rule, not a module's table
    )
    assert group_tables(sample) == [1, 2, 4]


def test_no_module_defines_its_own_group_table():
    sources = [*(ROOT / "preau_ops").rglob("*.py"), *(ROOT / "tests" / "audit").rglob("*.py")]
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sources
        if path != ROOT / "preau_ops" / "platform.py"
        for line in group_tables(path)
    ]
    assert not found, "tables of groups outside preau_ops/platform.py: " + ", ".join(found)


# --------------------------------------------------------------------------- inventories


def inventory_problems(path: Path) -> str:
    with pytest.raises(OpsError) as caught:
        inventory.load(str(path))
    return caught.value.message


def test_an_inventory_cannot_set_the_map(prod):
    edit_yaml(prod / "group_vars/all/main.yml", lambda d: d.update(preau_platform={}))
    assert (
        "group_vars/all/main.yml: preau_platform: the platform map is "
        "playbooks/group_vars/all/platform.yml; an inventory cannot set it"
    ) in inventory_problems(prod)


def test_app_hosts_are_checked_against_the_backup_role_they_run(prod):
    """borgmatic clients (app) run the backup role: their variables are checked against it."""
    host_vars = prod / "host_vars"
    host_vars.mkdir()
    (host_vars / "app1.ent.example.fr.yml").write_text("backup_pg_port: many\n")
    message = inventory_problems(prod)
    assert "backup_pg_port" in message and "role backup" in message


# --------------------------------------------------------------------------- Ansible


def validation_play(tmp_path: Path, prod: Path) -> list[str]:
    """ansible-playbook running site.yml's first play (the checks) on the production example:
    its tasks run on the controller, nothing connects to a host."""
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "group_vars").symlink_to(PLAYBOOKS / "group_vars")
    (tmp_path / "roles").symlink_to(ROLES)
    playbook = tmp_path / "playbooks" / "checks.yml"
    playbook.write_text(yaml.safe_dump(site_plays()[:1]))
    password = str(tmp_path / "vault-password")
    return [
        str(Path(sys.executable).parent / "ansible-playbook"),
        *("-i", str(prod / "hosts.yml"), "--vault-password-file", password, str(playbook)),
    ]


def run(command: list[str]) -> subprocess.CompletedProcess:
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "PATH": "/usr/bin"}
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_the_checks_play_validates_every_role_a_host_runs(tmp_path, prod):
    command = validation_play(tmp_path, prod)
    assert run(command).returncode == 0
    (prod / "host_vars").mkdir()
    (prod / "host_vars" / "app1.ent.example.fr.yml").write_text("backup_pg_port: many\n")
    (prod / "host_vars" / "lb1.ent.example.fr.yml").write_text("monitoring_node_exporter_port: x\n")
    result = run(command)
    failed = set(re.findall(r"failed: \[([\w.]+)\] \(item=(\w+)\)", result.stdout))
    assert result.returncode != 0
    assert failed == {("app1.ent.example.fr", "backup"), ("lb1.ent.example.fr", "monitoring")}


def test_the_checks_play_refuses_a_map_set_elsewhere(tmp_path, prod):
    command = validation_play(tmp_path, prod)
    result = run([*command, "-e", '{"preau_platform": {"roles": {"base": ["all"]}}}'])
    assert result.returncode != 0
    assert "preau_platform is set outside playbooks/group_vars/all/platform.yml" in result.stdout
