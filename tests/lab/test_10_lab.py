"""Foundation on real hosts: the four tools see the same hosts and variables from the one
inventory, and `lab up` is repeatable."""

import pytest

from preau_ops import converge, inventory, runner
from preau_ops.lab import hosts as lab_hosts
from preau_ops.lab import image

from .conftest import CONVERGED_MARK, TOPOLOGY, deploy

pytestmark = pytest.mark.lab


def test_lab_hosts_match_the_topology(lab):
    expected = {h.name: h for h in lab_hosts.planned(TOPOLOGY)}
    assert set(lab.hosts) == set(expected)
    for name, planned in expected.items():
        assert sorted(lab.hosts[name].groups) == sorted(planned.groups)
        assert lab.hosts[name].address == lab_hosts.address_of(name)
        assert lab.hosts[name].vars.get("preau_private_address") == planned.private_address


def _attached(network: lab_hosts.Network) -> tuple[bool, dict[str, str]]:
    """(internal?, {container: address}) of a lab network, as Docker has it."""
    out = lab_hosts._docker(
        "network",
        "inspect",
        "-f",
        "{{.Internal}}{{range .Containers}} {{.Name}}={{.IPv4Address}}{{end}}",
        network.name,
    ).stdout.split()
    return out[0] == "true", dict(pair.split("=") for pair in out[1:])


def test_the_lab_hosts_come_first_on_a_shared_cpu(lab):
    """Every lab container weighs CPU_SHARES (molecule's, beside it in `deploy.py test`, the
    default 1024)."""
    names = [f"preau-{name}" for name in lab.hosts]
    out = lab_hosts._docker("inspect", "-f", "{{.HostConfig.CpuShares}}", *names).stdout
    assert out.split() == [str(lab_hosts.CPU_SHARES)] * len(names)


def test_the_networks_have_the_topologys_shape(lab):
    """Every host on the management network; prodlike's also on the private one, both
    Docker-internal (no way off the machine), and the apt proxy's host (ops) alone on the
    outside one."""
    closed = TOPOLOGY in lab_hosts.PRIVATE_TOPOLOGIES
    hosts = {f"preau-{name}": host for name, host in lab.hosts.items()}
    internal, members = _attached(lab_hosts.MANAGEMENT)
    assert internal == closed
    assert {c: a.split("/")[0] for c, a in members.items() if c in hosts} == {
        c: h.address for c, h in hosts.items()
    }
    if not closed:
        return
    internal, members = _attached(lab_hosts.PRIVATE)
    assert internal
    assert {c: a.split("/")[0] for c, a in members.items() if c in hosts} == {
        c: h.vars["preau_private_address"] for c, h in hosts.items()
    }
    internal, members = _attached(lab_hosts.OUTSIDE)
    assert not internal
    assert [c for c in members if c in hosts] == [f"preau-{lab.hosts_in('monitoring')[0].name}"]


def test_only_the_apt_proxys_host_has_a_way_out(lab):
    """prodlike: a Debian mirror (its address as the hosts know it) answers ops only."""
    if TOPOLOGY not in lab_hosts.PRIVATE_TOPOLOGIES:
        pytest.skip(f"topology {TOPOLOGY} does not close the hosts' way out")
    mirror = next(iter(image.resolve_mirrors()))
    probe = f"timeout 3 bash -c '</dev/tcp/{mirror}/80' && echo open || echo closed"
    ops = lab.hosts_in("monitoring")[0].name
    for name in (ops, lab.hosts_in("app")[0].name, runner.bastion(lab).name):
        out = lab_hosts._docker("exec", f"preau-{name}", "bash", "-c", probe).stdout.strip()
        assert out == ("open" if name == ops else "closed"), f"{name} reaches {mirror}: {out}"


def test_ansible_pings_every_host(lab):
    assert converge.ping(lab) == dict.fromkeys(lab.hosts, True)


def read_fact(lab, fact) -> dict:
    """{host: value} of a pyinfra fact, over the runner's sessions."""
    from pyinfra.api.facts import get_facts

    with runner.session(lab) as sessions:
        return {host.name: value for host, value in get_facts(sessions.state, fact).items()}


def test_pyinfra_reads_facts_of_every_host(lab):
    from pyinfra.facts.server import Hostname, LinuxDistribution

    assert read_fact(lab, Hostname) == {name: name for name in lab.hosts}
    os_release = read_fact(lab, LinuxDistribution)
    assert {v["release_meta"]["VERSION_CODENAME"] for v in os_release.values()} == {"bookworm"}


def test_fabric_runs_a_command_on_every_host(lab):
    outputs = runner.run_everywhere(lab, "hostname && systemctl is-system-running || true")
    for name, out in outputs.items():
        hostname, state = out.splitlines()
        assert hostname == name
        assert state in ("running", "degraded")


def test_testinfra_checks_every_host(lab):
    for host in lab.hosts.values():
        remote = runner.testinfra_host(host, lab)
        assert remote.system_info.codename == "bookworm"
        assert remote.service("ssh").is_running
        assert remote.check_output("hostname") == host.name
        assert remote.user("deploy").exists


def test_the_tools_share_the_inventory_variables(lab):
    """A variable set once in group_vars reaches each tool's view of every host."""
    domains = {h.vars["preau_domain"] for h in lab.hosts.values()}
    assert domains == {"ent.preau.test"}
    with runner.session(lab) as sessions:
        assert {h.data.preau_domain for h in sessions.state.inventory} == domains


def test_unknown_host_keys_are_refused(lab, tmp_path):
    """Fabric must not trust a host whose key is not the lab's recorded one."""
    host = next(iter(lab.hosts.values()))
    (tmp_path / "known_hosts").write_text("")
    host = inventory.Host(
        host.name,
        host.groups,
        {**host.vars, "preau_ssh_known_hosts_file": str(tmp_path / "known_hosts")},
    )
    with pytest.raises(Exception, match="cannot connect|not found in known_hosts"):
        runner.run_everywhere(lab, "true", hosts=[host])


def test_unreachable_host_is_named(lab):
    ghost = inventory.Host(
        "ghost", ["app"], {"ansible_host": "172.30.82.99", "ansible_user": "deploy"}
    )
    with pytest.raises(Exception, match="ghost"):
        runner.run_everywhere(lab, "true", hosts=[ghost])


def test_lab_up_twice_is_harmless(lab):
    before = lab_hosts.container_states()
    result = deploy("lab", "up", "--topology", TOPOLOGY)
    assert "cached" in result.stdout
    assert lab_hosts.container_states() == before


def test_lab_up_with_another_topology_is_refused(lab):
    other = "scaled" if TOPOLOGY != "scaled" else "single"
    result = deploy("lab", "up", "--topology", other, check=False)
    assert result.returncode == 1
    assert "already up with topology" in result.stdout


def test_half_created_lab_is_repaired(lab):
    """A missing container is created again. It comes back bare: the test converges it when
    the lab had been converged, so that the lab is left as it was found (the lb: it holds no
    data, only what the roles put); a lab not converged yet (a fresh one) is left bare."""
    victim = lab.hosts_in("lb")[0].name
    others = [h for h in lab.hosts.values() if h.name != victim]
    marks = runner.run_everywhere(
        lab, f"test -e {CONVERGED_MARK} && echo yes || echo no", hosts=others
    )
    converged = all(out.strip() == "yes" for out in marks.values())
    lab_hosts._docker("rm", "-f", f"preau-{victim}")
    repaired = False
    try:
        deploy("lab", "up", "--topology", TOPOLOGY)
        assert lab_hosts.container_states()[f"preau-{victim}"] == "running"
        assert converge.ping(inventory.load(None))[victim] is True
        repaired = True
    finally:
        if not repaired:  # the lab whole again for the modules after this one
            deploy("lab", "up", "--topology", TOPOLOGY)
        if converged:
            deploy("converge", "--limit", victim, timeout=1800)


def test_lab_status_lists_every_host(lab):
    out = deploy("lab", "status").stdout
    for name, host in lab.hosts.items():
        assert name in out and host.address in out
