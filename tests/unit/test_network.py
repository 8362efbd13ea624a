"""Two networks (issue #21): every host-to-host use takes a peer's private address
(preau_private_address, else ansible_host), one rule in roles/base/filter_plugins/preau_network.py
that preau_ops applies too; the firewall opens each service to the private addresses of the
hosts that need it, SSH only from the bastion when there is one; the audit's declared state
(NET-01, FW-01) agrees with the ruleset the base role renders."""

import functools
import importlib.util

import pytest
import yaml

from preau_ops import inventory
from preau_ops.audit import declared
from preau_ops.inventory import Host, Inventory
from preau_ops.paths import PLAYBOOKS, ROLES

BASE = ROLES / "base"
PRIVATE = {
    "lb1.ent.example.fr": "10.0.2.10",
    "app1.ent.example.fr": "10.0.2.21",
    "app2.ent.example.fr": "10.0.2.22",
    "db1.ent.example.fr": "10.0.2.31",
    "backup1.ent.example.fr": "10.0.2.41",
    "mon1.ent.example.fr": "10.0.2.51",
}


def _filters():
    spec = importlib.util.spec_from_file_location(
        "preau_network", BASE / "filter_plugins/preau_network.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


net = _filters()


@pytest.fixture(autouse=True)
def _control_marker(pytestconfig):
    """The audit's control modules use the `control` mark (registered by the audit's conftest,
    not collected when tests/unit runs alone)."""
    pytestconfig.addinivalue_line("markers", "control(id, title, requirement, groups): audit")


def _nft_openings(ruleset: str):
    from preau_ops.audit.controls.system import _nft_openings as parse

    return parse(ruleset)


def stray_listeners(*args):
    from preau_ops.audit.controls.network import stray_listeners as stray

    return stray(*args)


@functools.cache
def _plugins() -> None:
    """Ansible's plugins, with the base role's filters (as a role's import adds them)."""
    from ansible.plugins.loader import add_all_plugin_dirs, init_plugin_loader

    init_plugin_loader()
    add_all_plugin_dirs(str(BASE))


def render_ruleset(name: str, hosts: dict[str, tuple[list[str], dict]]) -> str:
    """roles/base/templates/nftables.conf.j2 for host `name`."""
    return render_base_template("nftables.conf.j2", name, hosts)


def render_base_template(template: str, name: str, hosts: dict[str, tuple[list[str], dict]]) -> str:
    """A template of roles/base for host `name`, rendered by Ansible's templating with the base
    role's defaults and derived values, the wiring and the filter plugins."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    _plugins()
    loader = DataLoader()

    def load(path):
        return loader.load_from_file(str(path), trusted_as_template=True)

    groups: dict[str, list[str]] = {"all": list(hosts)}
    for host, (member_of, _) in hosts.items():
        for group in member_of:
            groups.setdefault(group, []).append(host)
    variables = {
        **load(BASE / "defaults/main.yml"),
        **load(PLAYBOOKS / "group_vars/all/wiring.yml"),
        **hosts[name][1],
        **load(BASE / "vars/main.yml"),
        "groups": groups,
        "group_names": hosts[name][0],
        "hostvars": {host: hvars for host, (_, hvars) in hosts.items()},
        "inventory_hostname": name,
        "ansible_managed": "managed",
    }
    text = (BASE / "templates" / template).read_text()
    return Templar(loader=loader, variables=variables).template(trust_as_template(text))


def table(inv: Inventory) -> dict[str, tuple[list[str], dict]]:
    return {h.name: (h.groups, dict(h.vars)) for h in inv.hosts.values()}


@pytest.fixture
def two_networks(prod):
    """The production example with a private address on every host."""
    hosts_file = prod / "hosts.yml"
    data = yaml.safe_load(hosts_file.read_text())
    for name, address in PRIVATE.items():
        data["all"]["hosts"][name]["preau_private_address"] = address
    hosts_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return inventory.load(str(prod))


def test_a_peer_is_reached_at_its_private_address_else_its_ansible_host_else_its_name():
    hostvars = {
        "db": {"ansible_host": "192.0.2.31", "preau_private_address": "10.0.2.31"},
        "app1": {"ansible_host": "192.0.2.21"},
        "app2": {"ansible_host": "192.0.2.21"},
        "named": {},
    }
    assert net.preau_address("db", hostvars) == "10.0.2.31"
    assert net.preau_address("app1", hostvars) == "192.0.2.21"
    assert net.preau_address("named", hostvars) == "named"
    assert net.preau_address("unknown", hostvars) == "unknown"
    # each address once, in the hosts' order
    assert net.preau_addresses(["db", "app1", "app2"], hostvars) == ["10.0.2.31", "192.0.2.21"]


def test_services_listen_on_the_private_address_and_loopback_never_everywhere():
    hostvars = {
        "app1": {"ansible_host": "192.0.2.21", "preau_private_address": "10.0.2.21"},
        "v6": {"preau_private_address": "fd00::21"},
        "local": {"ansible_host": "127.0.0.1"},
        "named": {"ansible_host": "app1.example.fr"},
    }
    assert net.preau_listen_addresses("app1", hostvars) == ["10.0.2.21", "127.0.0.1"]
    assert net.preau_listen_addresses("v6", hostvars) == ["fd00::21", "127.0.0.1"]
    assert net.preau_listen_addresses("local", hostvars) == ["127.0.0.1"]
    # a name cannot be bound: every address, the one case the roles listen everywhere
    assert net.preau_listen_addresses("named", hostvars) == []
    assert net.preau_hostport("fd00::21", 8000) == "[fd00::21]:8000"
    assert net.preau_hostport("10.0.2.21", "9100") == "10.0.2.21:9100"
    assert net.preau_hostport("", 9100) == ":9100"


def test_the_tools_and_the_roles_agree_on_every_hosts_private_address(two_networks):
    hostvars = {h.name: h.vars for h in two_networks.hosts.values()}
    for host in two_networks.hosts.values():
        assert host.private_address == PRIVATE[host.name]
        assert net.preau_address(host.name, hostvars) == host.private_address
        assert host.address.startswith("203.0.113.")  # the management address stays


def test_each_service_is_opened_to_the_private_addresses_of_its_clients(two_networks):
    hosts = table(two_networks)
    db = render_ruleset("db1.ent.example.fr", hosts)
    assert "ip saddr { 10.0.2.21, 10.0.2.22, 10.0.2.41 } tcp dport { 5432 } accept" in db
    assert "ip saddr { 10.0.2.51 } tcp dport { 9100 } accept" in db
    assert "203.0.113.2" not in db and "203.0.113.4" not in db  # no management address
    lb = render_ruleset("lb1.ent.example.fr", hosts)
    _, openings = _nft_openings(lb)
    assert openings[("tcp", 80)] is None and openings[("tcp", 443)] is None  # public side
    assert openings[("tcp", 9113)] == {"10.0.2.51"}
    assert ("tcp", 5432) not in openings and ("tcp", 8000) not in openings


def test_the_audit_declares_the_openings_the_role_renders(two_networks):
    hosts = table(two_networks)
    for host in two_networks.hosts.values():
        _, rendered = _nft_openings(render_ruleset(host.name, hosts))
        assert rendered == declared.openings(two_networks, host), host.name


def test_without_private_addresses_the_ansible_host_serves_for_both(prod):
    inv = inventory.load(str(prod))
    db = render_ruleset("db1.ent.example.fr", table(inv))
    assert "ip saddr { 203.0.113.21, 203.0.113.22, 203.0.113.41 } tcp dport { 5432 } accept" in db
    assert declared.openings(inv, inv.hosts["db1.ent.example.fr"])[("tcp", 5432)] == {
        "203.0.113.21",
        "203.0.113.22",
        "203.0.113.41",
    }


def test_behind_a_bastion_ssh_comes_from_the_bastion_only_and_the_bastion_from_the_admins():
    admins = {"base_ssh_allowed_sources": ["198.51.100.0/24"]}
    hosts = {
        "bastion": (["bastion"], {"ansible_host": "192.0.2.5", **admins}),
        "app1": (["app"], {"ansible_host": "192.0.2.21", "preau_private_address": "10.0.2.21"}),
        "db": (["db"], {"ansible_host": "192.0.2.31", "preau_private_address": "10.0.2.31"}),
        "ops": (["backup"], {"ansible_host": "192.0.2.41", "preau_private_address": "10.0.2.41"}),
    }
    hosts["app1"][1].update(admins)
    _, app = _nft_openings(render_ruleset("app1", hosts))
    _, ops = _nft_openings(render_ruleset("ops", hosts))
    _, bastion = _nft_openings(render_ruleset("bastion", hosts))
    assert app[("tcp", 22)] == {"192.0.2.5"}
    assert ops[("tcp", 22)] == {"192.0.2.5", "10.0.2.21", "10.0.2.31"}  # + the backup peers
    assert bastion[("tcp", 22)] == {"198.51.100.0/24"}
    inv = Inventory(
        path=BASE,
        hosts={n: Host(n, g, v) for n, (g, v) in hosts.items()},
        groups={"bastion": ["bastion"], "app": ["app1"], "db": ["db"], "backup": ["ops"]},
    )
    assert declared.ssh_sources(inv, inv.hosts["app1"]) == ["192.0.2.5"]
    assert declared.ssh_sources(inv, inv.hosts["bastion"]) == ["198.51.100.0/24"]
    inv.hosts["app1"].vars["base_ssh_bastion_sources"] = ["10.0.1.5"]
    assert declared.ssh_sources(inv, inv.hosts["app1"]) == ["10.0.1.5"]


def test_net01_names_every_socket_beyond_the_private_address_and_loopback():
    listeners = [
        ("tcp", "10.0.2.21", 8000, "systemd"),
        ("tcp", "127.0.0.1", 8000, "systemd"),
        ("tcp", "::1", 5432, "postgres"),
        ("tcp", "0.0.0.0", 22, "sshd"),
        ("tcp", "::", 443, "nginx"),
        ("tcp", "*", 9100, "prometheus-node"),
        ("tcp", "192.0.2.21", 9187, "postgres_export"),
        ("udp", "0.0.0.0", 68, "dhclient"),
    ]
    public = {("tcp", 22), ("tcp", 443)}
    assert stray_listeners(listeners, "10.0.2.21", public) == [
        "prometheus-node on *:9100/tcp",
        "postgres_export on 192.0.2.21:9187/tcp",
        "dhclient on 0.0.0.0:68/udp",
    ]


def test_the_declared_public_ports_are_the_openings_for_everyone_and_sshd(two_networks):
    inv = two_networks
    assert declared.public_ports(inv, inv.hosts["lb1.ent.example.fr"]) == {
        ("tcp", 22),
        ("tcp", 80),
        ("tcp", 443),
    }
    assert declared.public_ports(inv, inv.hosts["db1.ent.example.fr"]) == {("tcp", 22)}
