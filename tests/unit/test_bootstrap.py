"""deploy.py bootstrap's decisions without hosts: what a host needs, the inventory refused
before any host is touched, host keys pinned and a changed one refused, the password kept off
command lines, and root never turned off before the new way in works. The same flows run on
real hosts in tests/lab/test_11_bootstrap.py."""

import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest

from preau_ops import bootstrap, commands, runner
from preau_ops.bootstrap import hostkeys, logins
from preau_ops.bootstrap.logins import Login, RootAccess
from preau_ops.errors import OpsError
from preau_ops.inventory import Host, Inventory

from .conftest import edit_yaml, ssh_test_key

OK = Login(True, (), "")
REFUSED = Login(False, ("publickey",), "Permission denied (publickey)")


@pytest.mark.parametrize(
    ("admin", "root", "needed"),
    [
        (OK, REFUSED, "already"),  # bootstrapped: left alone
        (REFUSED, OK, "bootstrap"),  # bare host
        (OK, OK, "bootstrap"),  # accounts made, root not yet off (an interrupted run)
        (REFUSED, REFUSED, "stuck"),  # nobody gets in: console
    ],
)
def test_what_a_host_needs(admin, root, needed):
    assert bootstrap.plan(admin, root) == needed


def test_the_filled_in_example_gives_its_known_hosts_file(prod):
    from preau_ops import inventory

    inv = inventory.load(str(prod))
    assert bootstrap.preflight(inv, list(inv.hosts.values())) == prod / "known_hosts"


def test_no_known_hosts_file_is_refused_before_any_host(prod):
    from preau_ops import inventory

    edit_yaml(prod / "hosts.yml", lambda d: d["all"]["vars"].pop("preau_ssh_known_hosts_file"))
    inv = inventory.load(str(prod))
    with pytest.raises(OpsError, match="preau_ssh_known_hosts_file is not set for lb1"):
        bootstrap.preflight(inv, list(inv.hosts.values()))


def test_a_connection_user_without_an_admin_entry_is_refused(prod):
    from preau_ops import inventory

    edit_yaml(prod / "hosts.yml", lambda d: d["all"]["vars"].update(ansible_user="ops"))
    inv = inventory.load(str(prod))
    with pytest.raises(OpsError) as caught:
        bootstrap.preflight(inv, list(inv.hosts.values()))
    assert caught.value.message.startswith("lb1.ent.example.fr: base_admin_users has no entry")
    assert "'ops'" in caught.value.message


def test_root_as_the_connection_user_is_refused():
    root = Host("h1", ["app"], {"ansible_user": "root"})
    inv = Inventory(path=Path("/x"), hosts={"h1": root}, groups={})
    with pytest.raises(OpsError, match="h1: ansible_user is root"):
        bootstrap.preflight(inv, [root])


# ------------------------------------------------------------------------------ host keys


@pytest.fixture
def real_key(tmp_path):
    """A real ed25519 public key and ssh-keygen's own fingerprint of it."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "k"], check=True
    )
    kind, blob = (tmp_path / "k.pub").read_text().split()[:2]
    listed = subprocess.run(
        ["ssh-keygen", "-lf", tmp_path / "k.pub"], capture_output=True, text=True, check=True
    )
    return kind, blob, listed.stdout.split()[1]


def test_fingerprints_are_those_ssh_keygen_shows(real_key):
    kind, blob, fingerprint = real_key
    assert hostkeys.HostKey("h", "10.0.0.1", kind, blob).fingerprint == fingerprint


def test_known_hosts_names_follow_openssh():
    assert hostkeys.entry_name(Host("a", [], {"ansible_host": "10.0.0.1"})) == "10.0.0.1"
    port = Host("a", [], {"ansible_host": "10.0.0.1", "ansible_port": 2222})
    assert hostkeys.entry_name(port) == "[10.0.0.1]:2222"


def test_new_keys_are_pinned_once_and_kept(tmp_path, real_key):
    kind, blob, _ = real_key
    path = tmp_path / "pins/known_hosts"
    key = hostkeys.HostKey("h", "10.0.0.1", kind, blob)
    assert hostkeys.pin([key], path) == [key]
    assert path.read_text() == f"10.0.0.1 {kind} {blob}\n"
    assert hostkeys.pin([key], path) == []
    assert path.read_text() == f"10.0.0.1 {kind} {blob}\n"


def test_a_changed_key_is_refused_naming_both_fingerprints(tmp_path, real_key):
    kind, blob, fingerprint = real_key
    path = tmp_path / "known_hosts"
    other = hostkeys.HostKey("h", "10.0.0.1", kind, ssh_test_key("other").split()[1])
    path.write_text(other.line + "\n")
    with pytest.raises(OpsError) as caught:
        hostkeys.pin([hostkeys.HostKey("h", "10.0.0.1", kind, blob)], path)
    assert "h (10.0.0.1): its SSH host key changed" in caught.value.message
    assert other.fingerprint in caught.value.message and fingerprint in caught.value.message
    assert "ssh-keygen -R 10.0.0.1" in caught.value.hint
    assert path.read_text() == other.line + "\n", "the pinned file is left as it was"


# ------------------------------------------------------------------------------ logins


@pytest.fixture
def fake_ssh(tmp_path, monkeypatch):
    """ssh and sshpass on PATH that record their argv and environment, and refuse the login."""
    record = tmp_path / "calls"
    for tool in ("ssh", "sshpass"):
        script = tmp_path / tool
        script.write_text(
            "#!/bin/sh\n"
            f'echo "{tool} $* SSHPASS=${{SSHPASS:-unset}}" >> {record}\n'
            + ('exec "$@"\n' if tool == "sshpass" else "")
            + "echo 'root@10.0.0.1: Permission denied (publickey,password).' >&2; exit 255\n"
        )
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return record


def test_a_refusal_names_the_methods_still_offered(fake_ssh):
    host = Host("h", ["app"], {"ansible_host": "10.0.0.1", "ansible_user": "deploy"})
    inv = Inventory(path=fake_ssh.parent, hosts={"h": host}, groups={})
    login = logins.as_root(host, inv, RootAccess(key_file="/keys/root"))
    assert not login.ok and login.methods == ("publickey", "password")
    assert login.password_offered
    assert login.error == "root@10.0.0.1: Permission denied (publickey,password)"
    assert "IdentityFile=/keys/root" in fake_ssh.read_text()
    assert "root@10.0.0.1" in fake_ssh.read_text()


def test_the_root_password_is_never_on_a_command_line(fake_ssh):
    host = Host("h", ["app"], {"ansible_host": "10.0.0.1", "ansible_user": "deploy"})
    inv = Inventory(path=fake_ssh.parent, hosts={"h": host}, groups={})
    logins.as_root(host, inv, RootAccess(password="s3cret-Root"))
    calls = fake_ssh.read_text().splitlines()
    assert calls[0].startswith("sshpass -e ssh") and "PreferredAuthentications=password" in calls[0]
    assert all("s3cret-Root" not in line.split(" SSHPASS=")[0] for line in calls)
    assert calls[0].endswith("SSHPASS=s3cret-Root"), "the password reaches sshpass's environment"
    assert "s3cret-Root" not in repr(RootAccess(password="s3cret-Root"))


# ------------------------------------------------------------------------------ no lockout


def test_root_stays_open_when_the_new_way_in_fails(monkeypatch):
    host = Host("h", ["app"], {"ansible_host": "10.0.0.1", "ansible_user": "deploy"})
    monkeypatch.setattr(logins, "as_admin", lambda *a, **k: REFUSED)
    monkeypatch.setattr(
        bootstrap, "_lockdown", lambda *a: pytest.fail("root must not be turned off")
    )
    result, detail = bootstrap._finish(host, None, RootAccess())
    assert result == "failed"
    assert detail.startswith("root left open: the new way in does not work (deploy with")
    assert "Permission denied (publickey)" in detail


def test_a_lockdown_that_leaves_root_open_is_reported(monkeypatch):
    host = Host("h", ["app"], {"ansible_host": "10.0.0.1", "ansible_user": "deploy"})
    monkeypatch.setattr(logins, "as_admin", lambda *a, **k: OK)
    monkeypatch.setattr(logins, "as_root", lambda *a, **k: OK)
    result, detail = bootstrap._finish(host, None, RootAccess())
    assert result == "failed" and detail.startswith("sshd still accepts root after the reload")


def test_ask_root_password_needs_a_terminal(prod, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    monkeypatch.setattr(bootstrap, "run", lambda *a, **k: pytest.fail("nothing may run"))
    assert commands.main(["bootstrap", "-i", str(prod), "--ask-root-password"]) == 1
    assert "--ask-root-password needs a terminal" in capsys.readouterr().out


def test_only_the_hosts_own_refusal_counts_not_the_bastions():
    root = Host("app1", ["app"], {"ansible_host": "10.0.0.21", "ansible_user": "root"})
    hop = "deploy@10.0.0.5: Permission denied (publickey).\nConnection closed by UNKNOWN\n"
    assert logins.refused_methods(hop, root) == ()
    own = "Warning: added\nroot@10.0.0.21: Permission denied (publickey,password).\n"
    assert logins.refused_methods(own, root) == ("publickey", "password")


def test_ansible_reads_the_pinned_keys_strictly_like_every_tool(tmp_path):
    common = {"ansible_user": "deploy", "preau_ssh_known_hosts_file": str(tmp_path / "kh")}
    hosts = {
        "bastion": Host("bastion", ["bastion"], {**common, "ansible_host": "10.0.0.5"}),
        "app1": Host("app1", ["app"], {**common, "ansible_host": "10.0.0.21"}),
    }
    inv = Inventory(path=tmp_path, hosts=hosts, groups={"bastion": ["bastion"], "app": ["app1"]})
    args = shlex.split(runner.ansible_ssh_args(inv, "-o ControlMaster=no"))
    assert args[:6] == [
        "-o",
        "ControlMaster=no",
        "-o",
        f"UserKnownHostsFile={tmp_path / 'kh'}",
        "-o",
        "StrictHostKeyChecking=yes",
    ]
    assert args[6] == "-F", "then the bastion's hop"
    hosts["app1"].vars.pop("preau_ssh_known_hosts_file")
    assert "UserKnownHostsFile" not in runner.ansible_ssh_args(inv, ""), "no single file: none"


def test_a_changed_host_key_is_named_as_such_by_every_session(tmp_path):
    import paramiko

    host = Host("db", ["db"], {"ansible_host": "10.0.0.31", "preau_ssh_known_hosts_file": "/kh"})
    got, expected = paramiko.RSAKey.generate(1024), paramiko.RSAKey.generate(1024)
    error = runner.ssh_failed(host, paramiko.BadHostKeyException("10.0.0.31", got, expected))
    assert error.message.startswith("db (10.0.0.31): its SSH host key is not the one pinned in /kh")
    assert "ssh-keygen -R 10.0.0.31 -f /kh" in error.hint
    unknown = runner.ssh_failed(
        host, paramiko.SSHException("Server '10.0.0.31' not found in known_hosts")
    )
    assert unknown.message.startswith("db (10.0.0.31): its SSH host key is not pinned in /kh")
    other = runner.ssh_failed(host, ConnectionRefusedError("refused"))
    assert other.message == "db (10.0.0.31): cannot connect over SSH: refused"


# ------------------------------------------------------------------------------ bench row


@pytest.mark.parametrize(
    ("rc", "results", "value"),
    [(0, ["bootstrapped", "bootstrapped"], "time"), (1, ["bootstrapped", "failed"], "failed"),
     (0, ["already", "bootstrapped"], "failed"), (1, [], "failed")],
)  # fmt: skip
def test_the_bench_row_is_a_time_only_when_every_bare_host_was_bootstrapped(
    rc, results, value, monkeypatch, tmp_path
):
    import contextlib
    import json

    from preau_ops.bench import core, operations
    from preau_ops.bootstrap import trial

    hosts = {"h1": "10.0.0.1", "h2": "10.0.0.2"}
    monkeypatch.setattr(trial, "hosts", lambda n: contextlib.nullcontext(hosts))
    monkeypatch.setattr(trial, "operator_inventory", lambda t, a, bastion: (t, t / "pw"))
    answer = {"hosts": [{"host": f"h{i}", "result": r, "detail": r} for i, r in enumerate(results)]}
    done = subprocess.CompletedProcess([], rc, json.dumps(answer), "")
    monkeypatch.setattr(operations.subprocess, "run", lambda *a, **k: done)
    (measure,) = operations._bootstrap_measures()
    ticker = type("T", (), {"console": type("C", (), {"print": lambda self, text: None})()})()
    got = core.value_of(measure, core.Bench(inv=None, tmp=tmp_path), ticker)
    assert (got == "failed") if value == "failed" else float(got) >= 0


def test_logins_after_the_reload_wait_for_sshd_to_answer(monkeypatch):
    """sshd re-executes itself on a reload: a connection meanwhile is refused by the kernel,
    which is neither root's refusal nor a broken admin login (both seen on bare hosts)."""
    host = Host("h", ["app"], {"ansible_host": "10.0.0.1", "ansible_user": "deploy"})
    closed = Login(False, (), "ssh: connect to host 10.0.0.1 port 22: Connection refused")
    admins = iter([OK, closed, OK])
    roots = iter([closed, closed, REFUSED])
    monkeypatch.setattr(logins, "as_admin", lambda *a, **k: next(admins))
    monkeypatch.setattr(logins, "as_root", lambda *a, **k: next(roots))
    monkeypatch.setattr(bootstrap, "_lockdown", lambda *a: OK)
    monkeypatch.setattr(bootstrap.time, "sleep", lambda s: None)
    assert bootstrap._finish(host, None, RootAccess())[0] == "bootstrapped"
    monkeypatch.setattr(logins, "as_root", lambda *a, **k: closed)
    monkeypatch.setattr(logins, "as_admin", lambda *a, **k: OK)
    monkeypatch.setattr(bootstrap, "RELOAD_SECONDS", 0)
    result, detail = bootstrap._finish(host, None, RootAccess())
    assert result == "failed" and detail.startswith("sshd did not answer root's login")


def platform_with_bastion(tmp_path):
    admins = [{"name": "deploy", "ssh_keys": [ssh_test_key("deploy")]}]
    common = {
        "ansible_user": "deploy",
        "base_admin_users": admins,
        "preau_ssh_known_hosts_file": str(tmp_path / "kh"),
    }
    names = {"bastion": "bastion", "app1": "app", "db": "db"}
    hosts = {n: Host(n, [g], {**common, "ansible_host": f"10.0.0.{i}"}) for i, (n, g) in
             enumerate(names.items(), 5)}  # fmt: skip
    return Inventory(path=tmp_path, hosts=hosts, groups={g: [n] for n, g in names.items()})


@pytest.mark.parametrize(
    ("limit", "bastion_result", "expected"),
    [
        (None, "already", [("bastion", "already"), ("app1", "x"), ("db", "x")]),
        ("app1", "already", [("app1", "x")]),  # the bastion checked first, not reported
        ("app1", "bootstrapped", [("bastion", "bootstrapped"), ("app1", "x")]),
        ("db", "failed", [("bastion", "failed"), ("db", "failed")]),  # nothing through it
    ],
)
def test_the_bastion_goes_first_whatever_the_limit(
    tmp_path, monkeypatch, limit, bastion_result, expected
):
    phases = []

    def phase(inv, hosts, access, path, progress):
        phases.append([h.name for h in hosts])
        result = bastion_result if hosts[0].name == "bastion" else "x"
        return [bootstrap.Outcome(h.name, result, "") for h in hosts]

    monkeypatch.setattr(bootstrap, "_phase", phase)
    inv = platform_with_bastion(tmp_path)
    outcomes = bootstrap.run(inv, limit, RootAccess(), progress=type("P", (), {})())
    assert phases[0] == ["bastion"]
    assert [(o.host, o.result) for o in outcomes] == expected
    if bastion_result == "failed":
        assert phases == [["bastion"]]
        assert outcomes[1].detail == "not tried: the bastion bastion is not bootstrapped"
