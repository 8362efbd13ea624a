"""The CLI: argument errors, refusals before any host is touched, exit codes."""

import argparse
import subprocess
import sys

import pytest

from preau_ops import commands, converge
from preau_ops.commands._common import confirmed
from preau_ops.errors import OpsError
from preau_ops.paths import ROOT
from preau_ops.procedures import backups

from .conftest import edit_yaml


def run_cli(*args):
    return commands.main(list(args))


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as caught:
        run_cli("--help")
    assert caught.value.code == 0
    out = capsys.readouterr().out
    for command in ("up", "down", "lab", "converge", "inventory", "test"):
        assert f"    {command}" in out


@pytest.mark.parametrize(
    "args",
    [["nosuch"], ["lab"], ["lab", "ssh"], ["up", "--topology", "huge"], ["converge", "--nope"]],
)
def test_argument_errors_exit_2_with_usage(args, capsys):
    with pytest.raises(SystemExit) as caught:
        run_cli(*args)
    assert caught.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_invalid_inventory_stops_converge_before_ansible_runs(prod, monkeypatch, capsys):
    monkeypatch.setattr(
        converge, "run_playbook", lambda *a, **k: pytest.fail("Ansible must not run")
    )
    edit_yaml(prod / "group_vars/all/main.yml", lambda d: d.update(preau_domian="x"))
    assert run_cli("converge", "-i", str(prod)) == 1
    out = capsys.readouterr().out
    assert "preau_domian" in out and "nothing was run" in out


def test_unknown_limit_is_refused_before_ansible_runs(prod, monkeypatch, capsys):
    monkeypatch.setattr(
        converge, "run_playbook", lambda *a, **k: pytest.fail("Ansible must not run")
    )
    assert run_cli("converge", "-i", str(prod), "--limit", "nosuchhost") == 1
    assert "matches no host or group" in capsys.readouterr().out


def test_lab_commands_refuse_another_inventory(prod, capsys):
    assert run_cli("up", "-i", str(prod)) == 1
    assert "works on the local lab only" in capsys.readouterr().out


def test_inventory_check_of_the_production_example(prod, capsys):
    assert run_cli("inventory", "check", "-i", str(prod)) == 0
    assert "is valid: 6 hosts" in capsys.readouterr().out


def test_unknown_test_suite(capsys):
    assert run_cli("test", "nosuch") == 1
    assert "unknown test suite" in capsys.readouterr().out


def test_restore_without_yes_or_a_terminal_is_refused_before_anything_runs(
    prod, monkeypatch, capsys
):
    monkeypatch.setattr(backups, "restore", lambda *a, **k: pytest.fail("nothing may run"))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert run_cli("backup", "restore", "-i", str(prod), "--to", "2026-11-29T10:42:00+01:00") == 1
    assert "confirmation needed: a restore replaces the live database" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answer", "expected", "ignore_case", "result"),
    [
        ("yes", "yes", False, True),
        ("YES", "yes", False, False),
        ("y", "yes", False, False),
        (" 0820021c ", "0820021C", True, True),
        ("0820022C", "0820021C", True, False),
    ],
)
def test_the_operator_confirms_at_a_terminal(
    answer, expected, ignore_case, result, monkeypatch, capsys
):
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda question: answer)
    args = argparse.Namespace(yes=False)
    assert confirmed(args, "?", expected, OpsError("needed"), ignore_case=ignore_case) is result
    assert ("Not confirmed: nothing changed." in capsys.readouterr().out) is not result


def test_yes_confirms_without_asking(monkeypatch):
    monkeypatch.setattr("builtins.input", lambda question: pytest.fail("no question with --yes"))
    assert confirmed(argparse.Namespace(yes=True), "?", "yes", OpsError("needed"), False)


# each verb group's module and the commands it adds, in `deploy.py --help`'s order
GROUPS = {
    "lab": ("up", "down", "lab"),
    "inventory": ("inventory",),
    "bootstrap": ("bootstrap",),
    "converge": ("converge",),
    "release": ("release", "rollback"),
    "status": ("status",),
    "audit": ("audit",),
    "patch": ("patch",),
    "establishment": ("establishment",),
    "backup": ("backup",),
    "db": ("db",),
    "operations": ("operations",),
    "pki": ("pki",),
    "vault": ("vault",),
    "bench": ("bench",),
    "test": ("test",),
}


@pytest.mark.parametrize("group", commands.GROUPS, ids=lambda module: module.__name__)
def test_each_group_module_registers_its_verbs_with_a_handler(group):
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    group.register(subparsers, argparse.ArgumentParser(add_help=False))
    verbs = GROUPS[group.__name__.rsplit(".", 1)[1]]
    assert tuple(subparsers.choices) == verbs
    for verb in verbs:
        handler = subparsers.choices[verb].get_default("handler")
        assert callable(handler) and handler.__module__ == group.__name__


def test_deploy_py_help_lists_every_verb_of_every_group():
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listed = [
        line.split()[0]
        for line in result.stdout.splitlines()
        if line.startswith("    ") and not line.startswith("     ")
    ]
    assert listed == [verb for verbs in GROUPS.values() for verb in verbs]


def test_deploy_py_runs_with_the_system_python_and_answers_help():
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy.py"), "converge", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0
    assert "--check" in result.stdout and "--limit" in result.stdout


def test_the_bootstrap_installs_uv_from_the_lock_s_own_entry_with_its_hashes():
    """deploy.py's first run gives pip only the lock's entry for uv (pinned, every hash), then
    uv the whole lock: no unpinned or unchecked download."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("deploy_bootstrap", ROOT / "deploy.py")
    assert spec and spec.loader
    bootstrap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bootstrap)
    entry = bootstrap.uv_requirement().splitlines()
    pin = next(
        line
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line.startswith("uv==")
    )
    assert entry[0] == pin
    hashes = entry[1:]
    assert hashes and all(line.strip().startswith("--hash=sha256:") for line in hashes)
    assert all(line.rstrip().endswith("\\") for line in entry[:-1])
    assert not entry[-1].rstrip().endswith("\\")  # the requirement ends with its last hash
