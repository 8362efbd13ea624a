"""`deploy.py test lint`: the tools in order, one summary line each, a failing tool stops the
run before the slow suites unless --keep-going. The tools are small scripts on PATH (the
boundary); the real ones run in the lint suite itself."""

from __future__ import annotations

import os
import stat

import pytest

from preau_ops import commands, testing
from preau_ops.errors import OpsError
from preau_ops.paths import ROOT

# Each fake tool writes its command line and working directory to $FAKE_LINT_LOG and fails
# when that command line starts with $FAKE_LINT_FAIL.
FAKE = """#!/bin/sh
line="${0##*/} $*"
echo "$line @ $PWD" >> "$FAKE_LINT_LOG"
case "$line" in
  "$FAKE_LINT_FAIL"*) echo "$line: error: first error"; echo "second error"; exit 1;;
esac
exit 0
"""
TOOLS = ("ruff", "mypy", "yamllint", "ansible-lint")
IN_ORDER = [
    f"ruff check . @ {ROOT}",
    f"ruff format --check . @ {ROOT}",
    f"mypy preau_ops deploy.py @ {ROOT}",
    f"mypy src @ {ROOT / 'app'}",
    f"yamllint --strict -f parsable roles playbooks inventories monitoring .config @ {ROOT}",
    f"ansible-lint -q --nocolor --offline @ {ROOT}",
]


@pytest.fixture
def tools(tmp_path, monkeypatch):
    """The fake tools alone on PATH; returns a function giving the command lines they ran."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in TOOLS:
        script = bin_dir / name
        script.write_text(FAKE)
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "ran.log"
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_LINT_LOG", str(log))
    monkeypatch.setenv("FAKE_LINT_FAIL", "nothing fails")
    return lambda: log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def unit_suite(monkeypatch):
    """The unit suite replaced by a recorder (running tests/unit from within it would recurse)."""
    calls = []

    def record(k, summary):
        calls.append(k)
        return 1, 0, 0

    monkeypatch.setitem(testing.RUNNERS, "unit", record)
    return calls


def test_lint_runs_each_tool_in_order_with_one_summary_line(tools, capsys):
    assert testing.run(["lint"]) == 0
    assert tools() == IN_ORDER
    out = capsys.readouterr().out
    for tool in testing.LINT:
        assert f"lint: {tool.name}" in out  # its row in the summary, with its time
    assert "6 passed, 0 failed, 0 skipped" in out.splitlines()[-1]


def test_a_failing_tool_stops_the_run_before_the_other_suites(
    tools, unit_suite, capsys, monkeypatch
):
    monkeypatch.setenv("FAKE_LINT_FAIL", "mypy src")
    assert testing.run(["lint", "unit"]) == 1
    assert unit_suite == [], "the unit suite ran after a lint failure"
    assert tools() == IN_ORDER, "every lint tool runs, so that all their errors are shown"
    out = capsys.readouterr().out
    assert "✗ mypy app" in out and "mypy src: error: first error" in out
    assert "lint failed" in out and "unit not run" in out
    assert out.splitlines()[-1] == "5 passed, 1 failed, 0 skipped"


def test_keep_going_runs_the_other_suites_after_a_lint_failure(
    tools, unit_suite, capsys, monkeypatch
):
    monkeypatch.setenv("FAKE_LINT_FAIL", "ruff format")
    assert commands.main(["test", "lint", "unit", "--keep-going"]) == 1
    assert unit_suite == [None]
    assert capsys.readouterr().out.splitlines()[-1] == "6 passed, 1 failed, 0 skipped"


def test_a_missing_tool_is_a_failure_saying_so(tools, capsys, monkeypatch):
    os.remove(os.path.join(os.environ["PATH"], "ansible-lint"))
    assert testing.run(["lint"]) == 1
    out = capsys.readouterr().out
    assert "ansible-lint: not found on PATH" in out


def test_k_keeps_the_tools_it_names(tools, capsys):
    assert testing.run(["lint"], k="mypy") == 0
    assert [line.split(" @ ")[0] for line in tools()] == ["mypy preau_ops deploy.py", "mypy src"]
    assert capsys.readouterr().out.splitlines()[-1] == "2 passed, 0 failed, 4 skipped"


def test_an_unknown_suite_is_refused():
    with pytest.raises(OpsError, match="unknown test suite"):
        testing.run(["lint", "style"])


def test_the_app_suite_runs_beside_the_roles_and_both_are_counted(monkeypatch, capsys):
    """The app suite starts before the roles and is still running while they run; its result,
    failures included, is in the totals and its log's last lines are shown."""
    import threading

    app_running = threading.Event()
    roles_done = threading.Event()

    def app(k, summary, log=None):
        app_running.set()
        assert roles_done.wait(5), "the app suite did not run beside the roles"
        log.write_text("app line 1\n3 passed, 1 failed in 1.00s\n")
        return 3, 1, 0

    def roles(k, summary):
        assert app_running.wait(5), "the roles started before the app suite"
        roles_done.set()
        return 2, 0, 0

    monkeypatch.setattr(testing, "_app", app)
    monkeypatch.setattr(testing, "_system_packages", lambda: None)
    monkeypatch.setitem(testing.RUNNERS, "roles", roles)
    assert testing.run(["app", "roles"]) == 1
    out = capsys.readouterr().out
    assert "app runs beside roles" in out and "3 passed, 1 failed in 1.00s" in out
    assert out.splitlines()[-1] == "5 passed, 1 failed, 0 skipped"
