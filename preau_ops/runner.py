"""How a host is reached and how a command runs on it: the one place for both.

Every tool gets its connection settings from here: pyinfra (releases, patching) through
`pyinfra_data`/`session`, Fabric (one-off procedures) through `fabric_connection`/
`FabricSession`, testinfra (audit) and OpenSSH/Ansible through `ssh_options`. The user, key
and known hosts come from the one inventory; an unknown host key is refused, never added.
When the inventory has a `bastion` group, every other host is reached through its one host
(OpenSSH `ProxyCommand ssh -W` carrying the bastion's own user, port, key and known hosts,
so the jump needs nothing from ~/.ssh/config; Fabric's `gateway=`). The hop shares one
master connection to the bastion (ControlPersist), so a connection through it costs a channel,
not a second handshake. Ansible gets the same hop from `ansible_envvars` (an ssh_config file,
`-F`, that sends every host but the bastion through it), pyinfra from the same file.

Every command has a timeout (DEFAULT_TIMEOUT unless told) and comes back as a `Result`;
`check=True` turns a non-zero exit into an OpsError naming the host, the command and the
tail of its output; an SSH failure is an OpsError naming the host and its address.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import json
import logging
import os
import select
import shlex
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import OpsError
from .inventory import Host, Inventory
from .paths import ROOT

DEFAULT_TIMEOUT = 120  # seconds a command may run
CONNECT_TIMEOUT = 10  # seconds to establish an SSH connection
OUTPUT_TAIL = 1500  # characters of output an error message quotes
UNREACHABLE_HINT = "check the host is up and reachable (`deploy.py lab status`, ping)"
RECONNECT_PAUSE = 2  # seconds between attempts to reach a host coming back
JUMP_PERSIST = 120  # seconds the master connection to the bastion outlives its last hop


@dataclass(frozen=True)
class Result:
    """What a command did on a host."""

    host: str
    command: str
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


def checked(result: Result, check: bool = True, hint: str | None = None) -> Result:
    """The result, or with `check` an OpsError when the command failed (both session kinds)."""
    if check and not result.ok:
        tail = (result.stderr or result.stdout).strip()[-OUTPUT_TAIL:]
        raise OpsError(
            f"{result.host}: `{result.command[:150]}` failed ({result.rc}): {tail}", hint
        )
    return result


def json_answer(result: Result, what: str) -> dict[str, Any]:
    """The JSON document a command printed last on stdout (one line, or an indented document
    starting at a line of its own after lines of noise); an OpsError naming `what` if none."""
    text = result.stdout.strip()
    lines = text.splitlines()
    for candidate in (text, text[text.rfind("\n{") + 1 :], lines[-1] if lines else ""):
        try:
            answer = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(answer, dict):
            return answer
    raise OpsError(
        f"{result.host}: {what} gave no JSON answer:\n"
        f"{(result.stderr or result.stdout).strip()[-OUTPUT_TAIL:]}"
    )


def timed_out(host: str, command: str, seconds: float, hint: str | None = None) -> OpsError:
    return OpsError(f"{host}: `{command[:150]}` timed out after {seconds:g} s", hint)


def ssh_failed(host: Host, exc: BaseException) -> OpsError:
    changed = type(exc).__name__ == "BadHostKeyException"  # paramiko's, pyinfra's through it
    if changed or "not found in known_hosts" in str(exc):
        pinned = host.known_hosts_file or "~/.ssh/known_hosts"
        return OpsError(
            f"{host.name} ({host.address}): its SSH host key is "
            + ("not the one pinned" if changed else "not pinned")
            + f" in {pinned}: {exc}",
            "a host's key is pinned once, by `deploy.py bootstrap`; if the host was reinstalled, "
            "compare its new fingerprint with the provider's console, remove the old key "
            f"(ssh-keygen -R {host.address} -f {pinned}) and run bootstrap again; otherwise "
            "treat it as an interception attempt",
        )
    return OpsError(
        f"{host.name} ({host.address}): cannot connect over SSH: {exc}", UNREACHABLE_HINT
    )


# ------------------------------------------------------------------------------ settings


def bastion(inv: Inventory) -> Host | None:
    """The inventory's bastion (the one host of group `bastion`), or None without that group."""
    members = inv.hosts_in("bastion")
    if len(members) > 1:
        raise OpsError(
            f"inventory {inv.name} has {len(members)} hosts in group bastion: "
            + ", ".join(h.name for h in members),
            "declare exactly one bastion host",
        )
    return members[0] if members else None


def _jump_host(host: Host, inv: Inventory) -> Host | None:
    """The bastion a host is reached through (None for the bastion itself or without one)."""
    jump = bastion(inv)
    return None if jump is None or jump.name == host.name else jump


def _direct_options(host: Host) -> list[str]:
    options = ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}"]
    if host.key_file:
        options += ["-o", f"IdentityFile={host.key_file}"]
    if host.known_hosts_file:
        options += [
            "-o",
            f"UserKnownHostsFile={host.known_hosts_file}",
            "-o",
            "StrictHostKeyChecking=yes",
        ]
    return options


def _runtime_dir() -> Path:
    """This user's private folder for the runner's ssh_config files and control sockets."""
    folder = Path(tempfile.gettempdir()) / f"preau-runner-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def jump_socket(jump: Host) -> Path:
    """The control socket of the master connection to a bastion. Spelled out, not %C:
    ProxyCommand expands %-tokens."""
    name = hashlib.sha256(f"{jump.user}@{jump.address}:{jump.port}".encode()).hexdigest()[:16]
    return _runtime_dir() / f"jump-{name}.sock"


def _multiplexing(jump: Host) -> list[str]:
    """One master connection per bastion, shared by every hop and kept JUMP_PERSIST seconds
    after the last one."""
    return [
        "-o",
        "ControlMaster=auto",
        "-o",
        f"ControlPath={jump_socket(jump)}",
        "-o",
        f"ControlPersist={JUMP_PERSIST}",
    ]


def close_jump(jump: Host) -> bool:
    """End the master connection to a bastion (`ssh -O exit`); False when none was open."""
    socket = jump_socket(jump)
    if not socket.exists():
        return False
    command = ["ssh", "-o", f"ControlPath={socket}", "-O", "exit", f"{jump.user}@{jump.address}"]
    subprocess.run(command, capture_output=True, check=False, timeout=CONNECT_TIMEOUT)
    return True


def proxy_command(jump: Host) -> str:
    """The OpenSSH ProxyCommand that opens a channel to %h:%p through the bastion."""
    hop = ["ssh", *_direct_options(jump), *_multiplexing(jump), "-p", str(jump.port)]
    return shlex.join([*hop, "-W", "%h:%p", f"{jump.user}@{jump.address}"])


@contextlib.contextmanager
def ssh_endpoint(host: Host, inv: Inventory) -> Iterator[tuple[str, int]]:
    """Where a host's sshd answers from the controller, for tools that speak SSH themselves
    (ssh-audit): the host itself, or a local port forwarded through the bastion for as long
    as the `with` lasts."""
    jump = _jump_host(host, inv)
    if jump is None:
        yield host.address, host.port
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    forward = f"127.0.0.1:{port}:{host.address}:{host.port}"
    command = ["ssh", *_direct_options(jump), "-o", "ExitOnForwardFailure=yes", "-N"]
    command += ["-p", str(jump.port), "-L", forward, f"{jump.user}@{jump.address}"]
    tunnel = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while tunnel.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.1)
        else:
            error = tunnel.stderr.read().decode() if tunnel.stderr and tunnel.poll() else ""
            raise OpsError(
                f"{host.name}: no forward to its SSH port through the bastion {jump.name}: "
                + (error.strip()[-300:] or "timed out"),
                UNREACHABLE_HINT,
            )
        yield "127.0.0.1", port
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=CONNECT_TIMEOUT)


def ssh_options(host: Host, inv: Inventory) -> list[str]:
    """OpenSSH `-o` options reaching a host (testinfra; usable by Ansible's ssh_common_args)."""
    options = _direct_options(host)
    jump = _jump_host(host, inv)
    if jump is not None:
        options += ["-o", f"ProxyCommand={proxy_command(jump)}"]
    return options


def ssh_argv(host: Host, inv: Inventory, command: str | None = None) -> list[str]:
    """OpenSSH's command line to a host (through the bastion when there is one), running
    `command` there when given."""
    argv = ["ssh", *ssh_options(host, inv), "-p", str(host.port), f"{host.user}@{host.address}"]
    return [*argv, command] if command else argv


def pipe(inv: Inventory, source: tuple[Host, str], sink: tuple[Host, str], timeout: float) -> None:
    """Stream what a command prints on one host into a command on another, through the
    controller and never stored there (a database dump from the backup host into the db
    host): both commands must succeed, each failure names its host and the tail of its
    errors."""
    (src, src_command), (dst, dst_command) = source, sink
    with tempfile.TemporaryFile() as src_err, tempfile.TemporaryFile() as dst_err:
        producer = subprocess.Popen(
            ssh_argv(src, inv, src_command), stdout=subprocess.PIPE, stderr=src_err
        )
        consumer = subprocess.Popen(
            ssh_argv(dst, inv, dst_command), stdin=producer.stdout, stderr=dst_err
        )
        assert producer.stdout is not None
        producer.stdout.close()  # the consumer holds the pipe: it sees EOF, the producer EPIPE
        try:
            sink_code = consumer.wait(timeout)
            codes = [producer.wait(CONNECT_TIMEOUT), sink_code]
        except subprocess.TimeoutExpired as exc:
            for process in (producer, consumer):
                process.kill()
                process.wait()
            raise timed_out(dst.name, dst_command, timeout) from exc
        # the source's failure first: the sink's is then only its consequence (a short input)
        for (host, command, errors), code in zip(
            ((src, src_command, src_err), (dst, dst_command, dst_err)), codes, strict=True
        ):
            if code != 0:
                errors.seek(0)
                tail = errors.read().decode(errors="replace").strip()[-OUTPUT_TAIL:]
                raise OpsError(f"{host.name}: `{command}` failed (exit {code}): {tail}")


def _ssh_config_file(jump: Host) -> str:
    """An ssh_config file (one per bastion setting) that sends every host but the bastion
    through the jump (hosts are named by address, as every tool connects)."""
    text = f"Host * !{jump.address}\n  ProxyCommand {proxy_command(jump)}\n"
    path = _runtime_dir() / f"jump-{hashlib.sha256(text.encode()).hexdigest()[:12]}.conf"
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(text)
        partial.replace(path)
    return str(path)


def ansible_ssh_args(inv: Inventory, base: str | None = None) -> str:
    """Ansible's `ssh_args` for this inventory: `base` (default: ansible.cfg's, which this
    value replaces), then the bastion's ssh_config file when the inventory has one (every
    host but the bastion goes through it)."""
    if base is None:
        config = configparser.ConfigParser(interpolation=None)
        config.read(ROOT / "ansible.cfg")
        base = config.get("ssh_connection", "ssh_args", fallback="")
    base = shlex.join([*shlex.split(base), *_pinned_keys(inv)])
    jump = bastion(inv)
    return base if jump is None else f"{base} -F {_ssh_config_file(jump)}"


def _pinned_keys(inv: Inventory) -> list[str]:
    """Ansible reads the host keys bootstrap pinned, strictly, like every other tool: the
    inventory's one known_hosts file (nothing when its hosts name none, or several)."""
    files = {h.known_hosts_file for h in inv.hosts.values()}
    if len(files) != 1 or None in files:
        return []
    return ["-o", f"UserKnownHostsFile={files.pop()}", "-o", "StrictHostKeyChecking=yes"]


def ansible_envvars(inv: Inventory) -> dict[str, str]:
    """Environment of an Ansible run on this inventory (ansible-playbook, ansible-runner)."""
    return {"ANSIBLE_SSH_ARGS": ansible_ssh_args(inv)}


def pyinfra_data(host: Host, inv: Inventory) -> dict[str, Any]:
    """pyinfra connector data (ssh_*) and `_sudo` for a host."""
    data: dict[str, Any] = {
        "ssh_hostname": host.address,
        "ssh_port": host.port,
        "ssh_user": host.user,
        "_sudo": host.user != "root",
    }
    if host.key_file:
        data["ssh_key"] = host.key_file
    if host.known_hosts_file:
        data["ssh_known_hosts_file"] = host.known_hosts_file
        data["ssh_strict_host_key_checking"] = "yes"
    jump = _jump_host(host, inv)
    if jump is not None:
        data["ssh_config_file"] = _ssh_config_file(jump)
    return data


def fabric_connection(host: Host, inv: Inventory) -> Any:
    """A (not yet opened) Fabric Connection to a host, through the bastion if there is one."""
    import paramiko
    from fabric import Connection

    use_defaults = host.key_file is None
    kwargs: dict[str, Any] = {"look_for_keys": use_defaults, "allow_agent": use_defaults}
    if host.key_file:
        kwargs["key_filename"] = host.key_file
    jump = _jump_host(host, inv)
    connection = Connection(
        host=host.address,
        user=host.user,
        port=host.port,
        connect_kwargs=kwargs,
        connect_timeout=CONNECT_TIMEOUT,
        gateway=fabric_connection(jump, inv) if jump is not None else None,
    )
    connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    if host.known_hosts_file:
        connection.client.load_host_keys(host.known_hosts_file)
    return connection


def testinfra_host(
    host: Host, inv: Inventory, sudo: bool = False, control_dir: str | None = None
) -> Any:
    """A testinfra Host over OpenSSH with the runner's options (control_dir: one master
    connection per host there, shared by every command).

    The multiplexing options are ours, not testinfra's `controlpath`: testinfra leaves its own
    out whenever the extra arguments name ControlMaster, which the bastion's ProxyCommand does,
    so every command through the bastion paid a new SSH connection (~220 ms instead of ~15)."""
    import testinfra

    options = ssh_options(host, inv)
    if control_dir:
        options = [
            *("-o", "ControlMaster=auto", "-o", f"ControlPath={control_dir}/%C"),
            *("-o", "ControlPersist=30", *options),
        ]
    return testinfra.get_host(
        f"ssh://{host.user}@{host.address}:{host.port}",
        ssh_extra_args=shlex.join(options),
        sudo=sudo,
        controlpersist=0,  # testinfra's own ControlMaster option: ours above, or none
    )


def _host_of(inv: Inventory, host: Host | str) -> Host:
    if isinstance(host, Host):
        return host
    if host not in inv.hosts:
        raise OpsError(
            f"no host {host!r} in inventory {inv.name}", "hosts: " + ", ".join(inv.hosts)
        )
    return inv.hosts[host]


class _Runner:
    """What both session kinds share: `run` resolves the host, applies the timeout, maps
    timeouts and SSH failures to OpsError and checks the exit status; `_execute` is theirs."""

    inv: Inventory

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError

    def _execute(
        self, target: Host, command: str, sudo: bool, seconds: float
    ) -> tuple[int, str, str]:
        """(rc, stdout, stderr); raises TimeoutError when the command outlives `seconds`."""
        raise NotImplementedError

    def run(
        self,
        host: Host | str,
        command: str,
        *,
        sudo: bool = True,
        check: bool = True,
        timeout: float | None = None,
        hint: str | None = None,
    ) -> Result:
        """Run a shell command on a host (as root by default, through sudo when needed)."""
        target = _host_of(self.inv, host)
        seconds = DEFAULT_TIMEOUT if timeout is None else timeout
        try:
            rc, stdout, stderr = self._execute(target, command, sudo, seconds)
        except TimeoutError:
            raise timed_out(target.name, command, seconds, hint) from None
        except OpsError:
            raise
        except Exception as exc:  # paramiko, socket and EOF errors: say which host
            raise ssh_failed(target, exc) from exc
        return checked(Result(target.name, command, rc, stdout, stderr), check, hint)


# ------------------------------------------------------------------------------ pyinfra


class Sessions(_Runner):
    """One pyinfra State connected to several hosts in parallel; `run` on any of them."""

    def __init__(self, inv: Inventory, hosts: list[Host], allow_unreachable: bool) -> None:
        self.inv = inv
        self.hosts = hosts
        self.allow_unreachable = allow_unreachable
        self.unreachable: list[str] = []
        self.state: Any = None

    def __enter__(self) -> Sessions:
        from pyinfra.api.config import Config
        from pyinfra.api.connect import connect_all
        from pyinfra.api.exceptions import PyinfraError
        from pyinfra.api.inventory import Inventory as PyinfraInventory
        from pyinfra.api.state import State
        from pyinfra.connectors.sshuserclient.client import get_host_keys

        logging.getLogger("pyinfra").setLevel(logging.ERROR)
        # pyinfra memoizes known_hosts per process: re-read it, a host may have been rebuilt.
        get_host_keys.cache.clear()
        names = {h.name for h in self.hosts}
        entries = [(h.name, {**h.vars, **pyinfra_data(h, self.inv)}) for h in self.hosts]
        groups: dict[str, tuple[list[str], dict[str, Any]]] = {
            group: ([m for m in members if m in names], {})
            for group, members in self.inv.groups.items()
        }
        pyinfra_inv: Any = PyinfraInventory((entries, {}), **groups)  # type: ignore[no-untyped-call]
        config = Config(  # type: ignore[no-untyped-call]
            PARALLEL=max(1, len(self.hosts)), CONNECT_TIMEOUT=CONNECT_TIMEOUT
        )
        self.state = State(pyinfra_inv, config)
        with contextlib.suppress(PyinfraError):  # "No hosts remaining!": all unreachable
            connect_all(self.state)
        active = self.state.activated_hosts
        self.unreachable = [
            h.name for h in self.hosts if pyinfra_inv.get_host(h.name) not in active
        ]
        if self.unreachable and not self.allow_unreachable:
            self.close()
            raise OpsError(
                "cannot connect over SSH to: " + ", ".join(self.unreachable),
                "nothing was changed; " + UNREACHABLE_HINT,
            )
        return self

    def close(self) -> None:
        from pyinfra.api.connect import disconnect_all

        disconnect_all(self.state)
        # pyinfra's SSH connector leaves its paramiko client open on disconnect: closed here,
        # or each session leaks a connection per host, and through the bastion a ProxyCommand
        # whose transport thread spins at 100 % CPU once the proxy process has ended (paramiko
        # takes its EOF for "no data yet"): seen burning a core through the lab suite.
        for phost in self.state.activated_hosts:
            _close_client(phost)

    def reconnect(self, targets: list[Host], timeout: float) -> None:
        """Connect again to hosts that went away (a reboot), trying until `timeout`."""
        from pyinfra.api.exceptions import ConnectError

        deadline = time.monotonic() + timeout
        for target in targets:
            phost = self.state.inventory.get_host(target.name)
            _close_client(phost)
            phost.disconnect()
            while True:
                try:
                    phost.connect(show_errors=False, raise_exceptions=True)
                    break
                except ConnectError as exc:
                    if time.monotonic() > deadline:
                        raise ssh_failed(target, exc) from exc
                    time.sleep(RECONNECT_PAUSE)

    def _execute(
        self, target: Host, command: str, sudo: bool, seconds: float
    ) -> tuple[int, str, str]:
        if target.name in self.unreachable:
            raise ssh_failed(target, ConnectionError("unreachable when the session opened"))
        phost = self.state.inventory.get_host(target.name)
        return _pyinfra_exec(self.state, phost, command, sudo, seconds)


def _close_client(phost: Any) -> None:
    client = getattr(phost.connector, "client", None)
    if client is not None:
        client.close()


def _pyinfra_exec(
    state: Any, phost: Any, command: str, sudo: bool, timeout: float
) -> tuple[int, str, str]:
    """(rc, stdout, stderr) of a command on a connected pyinfra host, within `timeout`."""
    from pyinfra.api.command import StringCommand
    from pyinfra.connectors.util import make_unix_command_for_host

    use_sudo = bool(sudo and phost.data._sudo)
    unix = make_unix_command_for_host(state, phost, StringCommand(command), _sudo=use_sudo)
    stdin, stdout, _ = phost.connector.client.exec_command(unix.get_raw_value())
    stdin.close()
    channel = stdout.channel
    try:
        out, err = _collect(channel, time.monotonic() + timeout)
    finally:
        channel.close()
    return int(channel.recv_exit_status()), out, err


def _collect(channel: Any, deadline: float) -> tuple[str, str]:
    """Both output streams of a paramiko channel until the command exits (TimeoutError past
    the deadline). pyinfra's own reader relies on gevent, which would need monkey-patching."""
    out, err = bytearray(), bytearray()
    while True:
        while channel.recv_ready():
            out += channel.recv(65536)
        while channel.recv_stderr_ready():
            err += channel.recv_stderr(65536)
        remaining = deadline - time.monotonic()
        if channel.eof_received and channel.status_event.wait(max(0.0, remaining)):
            break
        if remaining <= 0:
            raise TimeoutError
        select.select([channel], [], [], min(remaining, 1.0))
    return out.decode(errors="replace"), err.decode(errors="replace")


def session(
    inv: Inventory, hosts: list[Host] | None = None, allow_unreachable: bool = False
) -> Sessions:
    """Connected pyinfra sessions to the hosts (default: all), disconnected on exit.

    Unreachable hosts are an error, or with `allow_unreachable` listed in `.unreachable`."""
    return Sessions(inv, list(inv.hosts.values()) if hosts is None else hosts, allow_unreachable)


# ------------------------------------------------------------------------------ Fabric


class FabricSession(_Runner):
    """Fabric connections for a procedure: to its host, and to any other host `run` names."""

    def __init__(self, host: Host, inv: Inventory) -> None:
        self.host = host
        self.inv = inv
        self._connections: dict[str, Any] = {}

    @property
    def connection(self) -> Any:
        """The Fabric Connection to the session's host (for put/get)."""
        return self._connection(self.host)

    def _connection(self, host: Host) -> Any:
        if host.name not in self._connections:
            connection = fabric_connection(host, self.inv)
            try:
                connection.open()
            except Exception as exc:  # paramiko/socket errors: say which host
                raise ssh_failed(host, exc) from exc
            self._connections[host.name] = connection
        return self._connections[host.name]

    def __enter__(self) -> FabricSession:
        self._connection(self.host)
        return self

    def close(self) -> None:
        """Close every connection, and the bastion's behind it: Fabric's close() leaves a
        gateway connection open (its transport thread and an sshd on the bastion each)."""
        for connection in self._connections.values():
            opened = connection
            while opened is not None:
                with contextlib.suppress(Exception):
                    opened.close()
                opened = getattr(opened, "gateway", None)
        self._connections.clear()

    def _execute(
        self, target: Host, command: str, sudo: bool, seconds: float
    ) -> tuple[int, str, str]:
        from invoke.exceptions import CommandTimedOut

        connection = self._connection(target)
        options = {"hide": True, "warn": True, "in_stream": False, "timeout": seconds}
        started = time.monotonic()
        try:
            if sudo and target.user != "root":
                done = connection.sudo(f"sh -c {shlex.quote(command)}", **options)
            else:
                done = connection.run(command, **options)
        except CommandTimedOut as exc:
            raise TimeoutError from exc
        if done.return_code == -1 and time.monotonic() - started >= seconds:
            # Killed by invoke's timer, whose thread had not ended when the closed channel
            # returned: no exit status (-1) and no CommandTimedOut (seen through a bastion).
            raise TimeoutError
        return int(done.return_code), str(done.stdout), str(done.stderr)


def run_everywhere(inv: Inventory, command: str, hosts: list[Host] | None = None) -> dict[str, str]:
    """Run a read-only command on each host in parallel; {host: stdout}. Raises on a failure."""
    targets = list(inv.hosts.values()) if hosts is None else hosts

    def one(host: Host) -> str:
        with FabricSession(host, inv) as opened:
            return opened.run(host, command, sudo=False).stdout.strip()

    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        outputs = list(pool.map(one, targets))
    return {host.name: out for host, out in zip(targets, outputs, strict=True)}
