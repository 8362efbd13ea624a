"""The host runner on real hosts: commands through both session kinds, a failing command's
error, a timeout, an unreachable host, and every tool through a bastion (the lb, made one
for the test) when the lab's sshd allows the forwarding a jump needs."""

import dataclasses
import subprocess
import time

import pytest

from preau_ops import runner
from preau_ops.errors import OpsError
from preau_ops.inventory import Host

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


def test_an_unreachable_host_is_named_with_its_address(lab):
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
    """The lab inventory with the lb as its bastion; skipped when the lb's sshd forbids TCP
    forwarding (the base role's default: a real bastion needs base_ssh_allow_tcp_forwarding)."""
    lb = lab.hosts_in("lb")[0]
    with runner.FabricSession(lb, lab) as session:
        settings = session.run(lb, "sshd -T").stdout
    if "allowtcpforwarding no" in settings or "disableforwarding yes" in settings:
        pytest.skip(
            "the lb's sshd forbids TCP forwarding (AllowTcpForwarding no): "
            "it cannot be a bastion until the base role allows it there"
        )
    return dataclasses.replace(lab, groups={**lab.groups, "bastion": [lb.name]})


def client_address(output: str) -> str:
    """The client address sshd saw ($SSH_CONNECTION's first field)."""
    return output.split(maxsplit=1)[0]


def test_every_tool_reaches_a_host_through_the_bastion(jumped):
    lb, db = jumped.hosts_in("lb")[0], jumped.hosts_in("db")[0]
    probe = "echo $SSH_CONNECTION"
    with runner.session(jumped, [db, lb]) as sessions:
        assert client_address(sessions.run(db, probe, sudo=False).stdout) == lb.address
        assert client_address(sessions.run(lb, probe, sudo=False).stdout) != lb.address
    with runner.FabricSession(db, jumped) as session:
        assert client_address(session.run(db, probe, sudo=False).stdout) == lb.address
    remote = runner.testinfra_host(db, jumped)
    assert client_address(remote.check_output(probe)) == lb.address
    openssh = subprocess.run(
        [
            "ssh",
            "-F",
            "/dev/null",
            *runner.ssh_options(db, jumped),
            "-p",
            str(db.port),
            f"{db.user}@{db.address}",
            probe,
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert openssh.returncode == 0, openssh.stderr
    assert client_address(openssh.stdout) == lb.address
