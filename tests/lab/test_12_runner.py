"""The host runner on real hosts: commands through both session kinds, a failing command's
error, a timeout, an unreachable host, and every tool through the bastion (prodlike's; on
the other topologies the lb made one for the test, when its sshd allows forwarding)."""

import dataclasses
import re
import subprocess
import time

import pytest

from preau_ops import converge, runner
from preau_ops.errors import OpsError
from preau_ops.inventory import Host

from .conftest import TOPOLOGY

pytestmark = pytest.mark.lab


@pytest.fixture(params=["pyinfra", "fabric"])
def opened(request, lab):
    """A session of each kind on every host of the lab."""
    if request.param == "pyinfra":
        with runner.session(lab) as sessions:
            yield sessions
    else:
        with runner.FabricSession(lab.hosts_in("app")[0], lab) as session:
            yield session


def test_commands_run_on_every_host_as_root_or_as_the_user(opened, lab):
    for host in lab.hosts.values():
        result = opened.run(host, "hostname; id -u")
        assert result.ok and result.stdout.split() == [host.name, "0"]
        assert opened.run(host.name, "id -un", sudo=False).stdout.strip() == host.user


def test_a_failing_command_is_an_ops_error_naming_host_and_command(opened, lab):
    db = lab.hosts_in("db")[0]
    with pytest.raises(OpsError) as caught:
        opened.run(db, "echo 'no such thing' >&2; exit 3", hint="look at db")
    assert (
        caught.value.message == "db: `echo 'no such thing' >&2; exit 3` failed (3): no such thing"
    )
    assert caught.value.hint == "look at db"
    unchecked = opened.run(db, "exit 3", check=False)
    assert unchecked.rc == 3 and not unchecked.ok


def test_a_command_past_its_timeout_is_stopped_and_named(opened, lab):
    app = lab.hosts_in("app")[0]
    started = time.monotonic()
    with pytest.raises(OpsError, match=r"`sleep 30` timed out after 1 s"):
        opened.run(app, "sleep 30", timeout=1)
    assert time.monotonic() - started < 5
    assert opened.run(app, "true").ok, "the session is still usable after a timeout"


def test_an_unreachable_host_is_named_with_its_address(lab, monkeypatch):
    # the ghost is given up after 5 s instead of the runner's 10 (twice: ~10 s of the suite)
    monkeypatch.setattr(runner, "CONNECT_TIMEOUT", 5)
    ghost = Host("ghost", ["app"], {"ansible_host": "172.30.82.99", "ansible_user": "deploy"})
    with (
        pytest.raises(OpsError, match=r"cannot connect over SSH to: ghost"),
        runner.session(lab, [ghost]),
    ):
        pass
    with runner.session(lab, [ghost, lab.hosts_in("db")[0]], allow_unreachable=True) as sessions:
        assert sessions.unreachable == ["ghost"]
        assert sessions.run("db", "hostname").stdout.strip() == "db"
        with pytest.raises(OpsError, match=r"ghost \(172.30.82.99\): cannot connect over SSH"):
            sessions.run(ghost, "true")


# ------------------------------------------------------------------------------ bastion


@pytest.fixture(scope="module")
def jumped(lab):
    """The lab inventory with its bastion: prodlike's, or elsewhere the lb made one for the
    test, skipped when its sshd forbids TCP forwarding (the base role allows it on the
    inventory's bastion only)."""
    if runner.bastion(lab) is not None:
        return lab
    lb = lab.hosts_in("lb")[0]
    with runner.FabricSession(lb, lab) as session:
        settings = session.run(lb, "sshd -T").stdout
    if "allowtcpforwarding no" in settings or "disableforwarding yes" in settings:
        pytest.skip(
            "the lb's sshd forbids TCP forwarding (AllowTcpForwarding no): only the inventory's "
            "bastion allows it (PREAU_LAB_TOPOLOGY=prodlike has one)"
        )
    return dataclasses.replace(lab, groups={**lab.groups, "bastion": [lb.name]})


def client_address(output: str) -> str:
    """The client address sshd saw ($SSH_CONNECTION's first field)."""
    return output.split(maxsplit=1)[0]


def _openssh(host, inv, command: str, options=()) -> subprocess.CompletedProcess:
    """OpenSSH as testinfra and Ansible run it: the runner's options, after `options`
    (OpenSSH keeps the first value given for each)."""
    return subprocess.run(
        ["ssh", "-F", "/dev/null", *options, *runner.ssh_options(host, inv)]
        + ["-p", str(host.port), f"{host.user}@{host.address}", command],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _accepted_since(session, host, since: str) -> set[str]:
    """Addresses sshd on `host` accepted a login from since `since` (its journal)."""
    log = session.run(host, f"journalctl -q -u ssh --since '{since}' -o cat", sudo=True).stdout
    return set(re.findall(r"Accepted publickey for \S+ from (\S+)", log))


def test_every_tool_reaches_a_host_through_the_bastion(jumped):
    bastion, db = runner.bastion(jumped), jumped.hosts_in("db")[0]
    probe = "echo $SSH_CONNECTION"
    with runner.FabricSession(db, jumped) as session:
        since = session.run(db, "date '+%Y-%m-%d %H:%M:%S'", sudo=False).stdout.strip()
        assert client_address(session.run(db, probe, sudo=False).stdout) == bastion.address
    with runner.session(jumped, [db, bastion]) as sessions:
        assert client_address(sessions.run(db, probe, sudo=False).stdout) == bastion.address
        assert client_address(sessions.run(bastion, probe, sudo=False).stdout) != bastion.address
    remote = runner.testinfra_host(db, jumped)
    assert client_address(remote.check_output(probe)) == bastion.address
    openssh = _openssh(db, jumped, probe)
    assert openssh.returncode == 0, openssh.stderr
    assert client_address(openssh.stdout) == bastion.address
    assert converge.ping(jumped, limit=db.name) == {db.name: True}  # Ansible
    time.sleep(1)  # the journal's last lines
    with runner.FabricSession(db, jumped) as session:
        assert _accepted_since(session, db, since) == {bastion.address}, "a login not via it"


def test_the_bastion_is_the_only_way_in(platform):
    """prodlike: the controller's direct SSH to a host behind the bastion is refused (the
    host's firewall), the bastion itself answers, and only the bastion forwards."""
    bastion = runner.bastion(platform)
    if bastion is None:
        pytest.skip(f"topology {TOPOLOGY} has no bastion")
    for host in (platform.hosts_in("app")[0], platform.hosts_in("db")[0]):
        direct = _openssh(
            host, platform, "true", ["-o", "ProxyCommand=none", "-o", "ConnectTimeout=3"]
        )
        assert direct.returncode == 255, f"{host.name} accepts SSH from the controller directly"
    assert _openssh(bastion, platform, "true").returncode == 0
    with runner.session(platform, [bastion, platform.hosts_in("db")[0]]) as sessions:
        settings = sessions.run(bastion, "sshd -T").stdout
        assert "allowtcpforwarding yes" in settings
        others = sorted(f"{h.address}:{h.port}" for h in platform.hosts.values() if h != bastion)
        assert sorted(re.findall(r"^permitopen (.*)$", settings, re.M)[0].split()) == others
        assert "allowtcpforwarding no" in sessions.run("db", "sshd -T").stdout


def _transports() -> set:
    """paramiko connections open in this process (each is its transport thread)."""
    import threading

    import paramiko

    return {thread for thread in threading.enumerate() if isinstance(thread, paramiko.Transport)}


def test_a_closed_session_leaves_no_connection_open(jumped):
    """Through the bastion, a pyinfra session left its paramiko clients open (whose
    ProxyCommand threads then spun at 100 % CPU once their proxy had ended) and a Fabric
    session its connection to the bastion: the lab suite burnt a core on them. Threads of
    connections closed before this test may still be ending: only this test's are counted."""
    before = _transports()
    db = jumped.hosts_in("db")[0]
    with runner.session(jumped, [db, runner.bastion(jumped)]) as sessions:
        sessions.run(db, "true")
        assert len(_transports() - before) == 2, "one connection to each host"
    with runner.FabricSession(db, jumped) as session:
        session.run(db, "true")
        assert len(_transports() - before) >= 2, "the db's connection and the bastion's"
    deadline = time.monotonic() + 5
    while _transports() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _transports() - before, "connections left open by closed sessions"
