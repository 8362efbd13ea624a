"""The host runner: connection settings with and without a bastion, checks, timeouts, errors.

The SSH boundary is faked here (a Fabric-like connection, a pyinfra-like state); the same
paths run against the lab's hosts in tests/lab/test_12_runner.py."""

import configparser
import itertools
import shlex
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from preau_ops import runner
from preau_ops.errors import OpsError
from preau_ops.inventory import Host, Inventory
from preau_ops.paths import ROOT

KEY = "/keys/id_ed25519"
KNOWN = "/keys/known_hosts"


def make_inventory(
    bastion: bool = False, extra_bastion: bool = False, known: str = KNOWN
) -> Inventory:
    common = {"ansible_user": "deploy", "ansible_ssh_private_key_file": KEY}
    hosts = {
        "lb": Host(
            "lb",
            ["lb"],
            {
                **common,
                "ansible_host": "10.0.0.12",
                "ansible_port": 2222,
                "preau_ssh_known_hosts_file": known,
            },
        ),
        "app1": Host("app1", ["app"], {**common, "ansible_host": "10.0.0.21"}),
        "db": Host("db", ["db"], {"ansible_host": "10.0.0.31", "ansible_user": "root"}),
    }
    groups = {"lb": ["lb"], "app": ["app1"], "db": ["db"]}
    if bastion:
        groups["bastion"] = ["lb"] + (["db"] if extra_bastion else [])
    return Inventory(path=Path("/inventories/test"), hosts=hosts, groups=groups)


def option_values(options: list[str]) -> dict[str, str]:
    assert options[::2] == ["-o"] * (len(options) // 2)
    return dict(value.split("=", 1) for value in options[1::2])


# ------------------------------------------------------------------------------ settings


def test_options_without_bastion_carry_key_and_known_hosts():
    inv = make_inventory()
    assert runner.bastion(inv) is None
    lb = option_values(runner.ssh_options(inv.hosts["lb"], inv))
    assert lb == {
        "BatchMode": "yes",
        "ConnectTimeout": "10",
        "IdentityFile": KEY,
        "UserKnownHostsFile": KNOWN,
        "StrictHostKeyChecking": "yes",
    }
    db = option_values(runner.ssh_options(inv.hosts["db"], inv))
    assert db == {"BatchMode": "yes", "ConnectTimeout": "10"}  # no key, no known hosts given


def test_options_with_bastion_jump_through_it_with_its_own_settings():
    inv = make_inventory(bastion=True)
    assert runner.bastion(inv).name == "lb"
    app = option_values(runner.ssh_options(inv.hosts["app1"], inv))
    hop = shlex.split(app["ProxyCommand"])
    assert hop[0] == "ssh" and hop[-1] == "deploy@10.0.0.12"
    assert hop[hop.index("-p") + 1] == "2222" and hop[hop.index("-W") + 1] == "%h:%p"
    hop_options = option_values([a for a in hop[1:] if a not in ("-p", "2222", "-W", "%h:%p")][:-1])
    control_path = hop_options.pop("ControlPath")
    assert hop_options == {
        "BatchMode": "yes",
        "ConnectTimeout": "10",
        "IdentityFile": KEY,
        "UserKnownHostsFile": KNOWN,
        "StrictHostKeyChecking": "yes",
        "ControlMaster": "auto",
        "ControlPersist": str(runner.JUMP_PERSIST),
    }
    # One master per bastion, named without %-tokens (ProxyCommand would expand them).
    assert "%" not in control_path and control_path.endswith(".sock")
    other = make_inventory(bastion=True)
    other.hosts["lb"].vars["ansible_host"] = "10.0.0.13"
    other_hop = runner.ssh_options(other.hosts["app1"], other)[-1]
    assert control_path not in other_hop
    # The bastion itself is reached directly.
    assert "ProxyCommand" not in option_values(runner.ssh_options(inv.hosts["lb"], inv))


def test_two_bastions_are_refused():
    with pytest.raises(OpsError, match="2 hosts in group bastion: lb, db"):
        runner.bastion(make_inventory(bastion=True, extra_bastion=True))


def test_pyinfra_data_without_and_with_bastion():
    inv = make_inventory()
    assert runner.pyinfra_data(inv.hosts["lb"], inv) == {
        "ssh_hostname": "10.0.0.12",
        "ssh_port": 2222,
        "ssh_user": "deploy",
        "_sudo": True,
        "ssh_key": KEY,
        "ssh_known_hosts_file": KNOWN,
        "ssh_strict_host_key_checking": "yes",
    }
    assert runner.pyinfra_data(inv.hosts["db"], inv)["_sudo"] is False
    jumped = make_inventory(bastion=True)
    data = runner.pyinfra_data(jumped.hosts["app1"], jumped)
    config = Path(data["ssh_config_file"]).read_text()
    # Every host but the bastion (named by address, as the tools connect) goes through it.
    assert config.startswith("Host * !10.0.0.12\n  ProxyCommand ssh ")
    assert config.strip().endswith("deploy@10.0.0.12")
    assert "ssh_config_file" not in runner.pyinfra_data(jumped.hosts["lb"], jumped)


def test_ansible_goes_through_the_bastion_with_the_same_ssh_config():
    plain = make_inventory()
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "ansible.cfg")
    cfg_args = config.get("ssh_connection", "ssh_args")
    assert runner.ansible_envvars(plain) == {"ANSIBLE_SSH_ARGS": cfg_args}
    jumped = make_inventory(bastion=True)
    args = shlex.split(runner.ansible_ssh_args(jumped, "-o ControlMaster=no"))
    assert args[:3] == ["-o", "ControlMaster=no", "-F"]
    pyinfra_config = runner.pyinfra_data(jumped.hosts["app1"], jumped)["ssh_config_file"]
    assert args[3] == pyinfra_config
    assert shlex.split(runner.ansible_envvars(jumped)["ANSIBLE_SSH_ARGS"])[-2:] == args[2:]


def _ssh_command(host) -> list[str]:
    """The ssh command line testinfra runs for `true` on HOST (its %-escapes undone)."""
    command, args = host.backend._build_ssh_command("true")
    return shlex.split(" ".join(command) % tuple(args))


def test_testinfra_host_uses_the_runner_options():
    inv = make_inventory(bastion=True)
    command = _ssh_command(runner.testinfra_host(inv.hosts["app1"], inv))
    options = runner.ssh_options(inv.hosts["app1"], inv)
    assert command[1 : 1 + len(options)] == options
    assert not [o for o in command if o.startswith(("ControlMaster", "ControlPath"))]


def test_testinfra_commands_share_one_connection_per_host_through_the_bastion():
    """The audit's commands share a master connection per host (control_dir). testinfra drops
    its own ControlMaster options when the extra arguments name ControlMaster, which the
    bastion's ProxyCommand does: each command through the bastion opened a new connection
    (~220 ms a command instead of ~15 on the lab; the prodlike lab's audit took 41 s, 21 s
    once shared)."""
    inv = make_inventory(bastion=True)
    for name in ("app1", "lb"):  # behind the bastion, and the bastion itself
        command = _ssh_command(runner.testinfra_host(inv.hosts[name], inv, control_dir="/c"))
        options = dict(v.split("=", 1) for o, v in itertools.pairwise(command) if o == "-o")
        assert options["ControlMaster"] == "auto", command
        assert options["ControlPath"] == "/c/%C", command
        assert int(options["ControlPersist"]) > 0, command


def test_fabric_connection_goes_through_the_bastion(tmp_path):
    (tmp_path / "known_hosts").write_text("")
    inv = make_inventory(bastion=True, known=str(tmp_path / "known_hosts"))
    connection = runner.fabric_connection(inv.hosts["app1"], inv)
    assert (connection.host, connection.user, connection.port) == ("10.0.0.21", "deploy", 22)
    assert connection.gateway.host == "10.0.0.12" and connection.gateway.port == 2222
    assert connection.gateway.gateway is None
    assert runner.fabric_connection(inv.hosts["lb"], inv).gateway is None


def test_closing_a_fabric_session_closes_the_bastion_connection_too():
    """Fabric's close() leaves the gateway open: each session leaked a connection to the
    bastion (a transport thread here, an sshd there) before the session closed it itself."""
    closed = []

    class Opened:
        def __init__(self, name, gateway=None):
            self.name, self.gateway = name, gateway

        def close(self):
            closed.append(self.name)

    inv = make_inventory(bastion=True)
    session = runner.FabricSession(inv.hosts["app1"], inv)
    session._connections["app1"] = Opened("app1", gateway=Opened("bastion"))
    session.close()
    assert closed == ["app1", "bastion"]


def test_closing_pyinfra_sessions_closes_their_ssh_clients(monkeypatch):
    """pyinfra's disconnect leaves the paramiko client open: through a bastion its
    ProxyCommand's thread then spins once the proxy has ended (a core burnt in the lab)."""
    import pyinfra.api.connect

    closed = []
    client = SimpleNamespace(close=lambda: closed.append("client"))
    state = SimpleNamespace(
        activated_hosts=[
            SimpleNamespace(connector=SimpleNamespace(client=client)),
            SimpleNamespace(connector=SimpleNamespace(client=None)),
        ]
    )
    monkeypatch.setattr(pyinfra.api.connect, "disconnect_all", lambda s: closed.append("pyinfra"))
    sessions = runner.Sessions(make_inventory(), [], allow_unreachable=False)
    sessions.state = state
    sessions.close()
    assert closed == ["pyinfra", "client"]


# ------------------------------------------------------------------------ running, checks


class FakeFabric:
    """The boundary: what a Fabric Connection answers."""

    def __init__(self, rc=0, stdout="", stderr="", raises=None, delay=0.0):
        self.answer = SimpleNamespace(return_code=rc, stdout=stdout, stderr=stderr)
        self.raises = raises
        self.delay = delay
        self.calls = []

    def run(self, command, **options):
        self.calls.append(("run", command, options))
        time.sleep(self.delay)
        if self.raises:
            raise self.raises
        return self.answer

    def sudo(self, command, **options):
        self.calls.append(("sudo", command, options))
        return self.answer

    def close(self):
        pass


def fabric_session(fake, host="app1"):
    inv = make_inventory()
    opened = runner.FabricSession(inv.hosts[host], inv)
    opened._connections[host] = fake
    return opened


def test_fabric_run_uses_sudo_for_a_non_root_user_and_the_default_timeout():
    fake = FakeFabric(stdout="ok\n")
    result = fabric_session(fake).run("app1", "echo 'a b'")
    assert result == runner.Result("app1", "echo 'a b'", 0, "ok\n", "")
    assert result.ok
    kind, command, options = fake.calls[0]
    assert (kind, command) == ("sudo", "sh -c 'echo '\"'\"'a b'\"'\"''")
    assert options["timeout"] == runner.DEFAULT_TIMEOUT
    fabric_session(fake).run("app1", "id", sudo=False, timeout=5)
    assert fake.calls[1][:2] == ("run", "id") and fake.calls[1][2]["timeout"] == 5


def test_a_failed_command_is_an_ops_error_with_the_tail_and_the_hint():
    fake = FakeFabric(rc=3, stdout="out", stderr="x" * 2000 + "the end\n")
    with pytest.raises(OpsError) as caught:
        fabric_session(fake).run("app1", "false", hint="do this")
    assert caught.value.message.startswith("app1: `false` failed (3): xxx")
    assert caught.value.message.endswith("the end") and len(caught.value.message) < 1600
    assert caught.value.hint == "do this"
    unchecked = fabric_session(fake).run("app1", "false", check=False)
    assert unchecked.rc == 3 and not unchecked.ok


def test_a_timed_out_command_says_so():
    from invoke.exceptions import CommandTimedOut

    fake = FakeFabric(raises=CommandTimedOut(SimpleNamespace(), 7))
    with pytest.raises(OpsError, match=r"app1: `sleep 60` timed out after 7 s"):
        fabric_session(fake).run("app1", "sleep 60", sudo=False, timeout=7)


def test_a_command_killed_at_its_timeout_without_invoke_saying_so_is_a_timeout():
    """invoke may hand back the killed command (no exit status: -1) instead of raising
    CommandTimedOut when its timer thread is still finishing (test_12 on prodlike, under load:
    'app1: `sleep 30` failed (-1)')."""
    fake = FakeFabric(rc=-1, delay=0.3)
    with pytest.raises(OpsError, match=r"app1: `sleep 30` timed out after 0.2 s"):
        fabric_session(fake).run("app1", "sleep 30", sudo=False, timeout=0.2)
    quick = FakeFabric(rc=-1)  # no exit status before the timeout: a failure, not a timeout
    with pytest.raises(OpsError, match=r"failed \(-1\)"):
        fabric_session(quick).run("app1", "true", sudo=False, timeout=5)


def test_an_ssh_failure_names_host_and_address():
    fake = FakeFabric(raises=EOFError("connection closed"))
    with pytest.raises(OpsError) as caught:
        fabric_session(fake).run("app1", "true", sudo=False)
    assert caught.value.message == "app1 (10.0.0.21): cannot connect over SSH: connection closed"
    assert caught.value.hint == runner.UNREACHABLE_HINT


def test_an_unknown_host_name_is_refused():
    with pytest.raises(OpsError, match="no host 'ghost' in inventory test"):
        fabric_session(FakeFabric()).run("ghost", "true")


def pyinfra_sessions(monkeypatch, answer):
    inv = make_inventory()
    sessions = runner.session(inv, [inv.hosts["app1"], inv.hosts["db"]])
    sessions.state = SimpleNamespace(inventory=SimpleNamespace(get_host=lambda name: name))
    calls = []

    def execute(state, phost, command, sudo, timeout):
        calls.append((phost, command, sudo, timeout))
        if isinstance(answer, BaseException):
            raise answer
        return answer

    monkeypatch.setattr(runner, "_pyinfra_exec", execute)
    return sessions, calls


def test_sessions_run_checks_through_the_same_function(monkeypatch):
    sessions, calls = pyinfra_sessions(monkeypatch, (0, "db\n", ""))
    assert sessions.run("db", "hostname") == runner.Result("db", "hostname", 0, "db\n", "")
    assert calls == [("db", "hostname", True, runner.DEFAULT_TIMEOUT)]
    sessions, _ = pyinfra_sessions(monkeypatch, (1, "", "no such unit"))
    with pytest.raises(OpsError, match=r"app1: `systemctl status x` failed \(1\): no such unit"):
        sessions.run(sessions.inv.hosts["app1"], "systemctl status x", timeout=3)


def test_sessions_timeout_and_unreachable(monkeypatch):
    sessions, _ = pyinfra_sessions(monkeypatch, TimeoutError())
    with pytest.raises(OpsError, match=r"db: `sleep 9` timed out after 2.5 s"):
        sessions.run("db", "sleep 9", timeout=2.5)
    sessions.unreachable = ["app1"]
    with pytest.raises(OpsError, match=r"app1 \(10.0.0.21\): cannot connect over SSH"):
        sessions.run("app1", "true")


class FakeChannel:
    """The boundary under pyinfra's connection: a paramiko channel's reading side."""

    def __init__(self, chunks, errors=(), exits=True):
        import os
        import threading

        self.chunks, self.errors = list(chunks), list(errors)
        self.eof_received = exits
        self.status_event = threading.Event()
        if exits:
            self.status_event.set()
        self._read, self._write = os.pipe()

    def fileno(self):
        return self._read

    def recv_ready(self):
        return bool(self.chunks)

    def recv(self, size):
        return self.chunks.pop(0)

    def recv_stderr_ready(self):
        return bool(self.errors)

    def recv_stderr(self, size):
        return self.errors.pop(0)


def test_the_channel_reader_collects_both_streams_until_exit():
    channel = FakeChannel([b"one\n", "twó\n".encode()], [b"warn\n"])
    assert runner._collect(channel, deadline=time.monotonic() + 5) == ("one\ntwó\n", "warn\n")


def test_the_channel_reader_stops_at_the_deadline():
    channel = FakeChannel([b"partial"], exits=False)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        runner._collect(channel, deadline=started + 0.3)
    assert 0.3 <= time.monotonic() - started < 2


# ----------------------------------------------------------------------------- json_answer


def _printed(stdout: str, stderr: str = "") -> runner.Result:
    return runner.Result("app1", "preau-manage x --json", 0, stdout, stderr)


@pytest.mark.parametrize(
    "stdout",
    [
        '{"ok": true, "n": 1}',
        'a warning first\n{\n  "ok": true,\n  "n": 1\n}\n',  # indented, after noise
        'noise\n{"ok": true, "n": 1}',
    ],
)
def test_json_answer_finds_the_document_after_noise(stdout):
    assert runner.json_answer(_printed(stdout), "x") == {"ok": True, "n": 1}


def test_json_answer_names_what_gave_none():
    with pytest.raises(OpsError, match=r"app1: the plan gave no JSON answer:\nTraceback"):
        runner.json_answer(_printed("not json", "Traceback ..."), "the plan")


# ------------------------------------------------------------------------------ pipe


def test_ssh_argv_reaches_the_host_through_the_bastion_and_runs_the_command():
    inv = make_inventory(bastion=True)
    argv = runner.ssh_argv(inv.hosts["app1"], inv, "cat /x")
    assert argv[0] == "ssh" and argv[-2:] == ["deploy@10.0.0.21", "cat /x"]
    assert "ProxyCommand" in " ".join(argv)


@pytest.fixture
def local_ssh(monkeypatch):
    """ssh_argv runs the command here (sh -c): pipe's plumbing on real processes."""
    monkeypatch.setattr(runner, "ssh_argv", lambda host, inv, command: ["sh", "-c", command])
    return make_inventory()


def test_pipe_streams_the_source_into_the_sink(local_ssh, tmp_path):
    inv, out = local_ssh, tmp_path / "out"
    source = (inv.hosts["lb"], "seq 1 100000")
    runner.pipe(inv, source, (inv.hosts["db"], f"wc -l > {out}"), timeout=30)
    assert out.read_text().strip() == "100000"


def test_pipe_names_the_failing_source_before_the_sink_it_starved(local_ssh):
    inv = local_ssh
    source = (inv.hosts["lb"], "echo 'no such dump' >&2; exit 3")
    sink = (inv.hosts["db"], "read x || { echo 'input too short' >&2; exit 1; }")
    with pytest.raises(OpsError, match=r"^lb: .* failed \(exit 3\): no such dump"):
        runner.pipe(inv, source, sink, timeout=30)


def test_pipe_names_a_failing_sink(local_ssh):
    inv = local_ssh
    sink = (inv.hosts["db"], "cat > /dev/null; echo 'restore refused' >&2; exit 1")
    with pytest.raises(OpsError, match=r"^db: .* failed \(exit 1\): restore refused"):
        runner.pipe(inv, (inv.hosts["lb"], "echo dump"), sink, timeout=30)


def test_a_pipe_that_outlives_its_timeout_is_killed_and_says_so(local_ssh):
    inv = local_ssh
    with pytest.raises(OpsError, match="timed out after 1 s"):
        runner.pipe(inv, (inv.hosts["lb"], "sleep 30"), (inv.hosts["db"], "cat"), timeout=1)
