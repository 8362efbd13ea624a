"""`deploy.py test lint`: the tools in order, one summary line each, a failing tool stops the
run before the slow suites unless --keep-going. The tools are small scripts on PATH (the
boundary); the real ones run in the lint suite itself."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from preau_ops import commands, console, testing
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


def test_roles_and_app_run_beside_the_lab_and_are_counted(monkeypatch, tmp_path, capsys):
    """With the lab chosen, app and roles (and unit, when chosen) run as one background
    `deploy.py test app roles` while the lab suite runs; its failures are in the totals and
    its summary is shown."""
    started = tmp_path / "beside-started"
    script = (
        f"touch {started}; echo 'roles + app summary'; sleep 1; "
        "echo '4 passed, 1 failed, 2 skipped'; exit 1"
    )
    commands_run = []

    def command(suites, k):
        commands_run.append((suites, k))
        return ["sh", "-c", script]

    def lab(k, summary):
        deadline = time.monotonic() + 5
        while not started.exists():
            assert time.monotonic() < deadline, "nothing ran beside the lab"
            time.sleep(0.05)
        return 3, 0, 0

    def foreground(k, summary):
        raise AssertionError("a suite of BESIDE_LAB ran in the foreground")

    monkeypatch.setattr(testing, "_system_packages", lambda lab=False: None)
    monkeypatch.setattr(testing, "_host_images", lambda: None)
    monkeypatch.setattr(testing, "_beside_command", command)
    monkeypatch.setattr(testing, "other_lab", lambda: None)
    monkeypatch.setitem(testing.RUNNERS, "lab", lab)
    monkeypatch.setitem(testing.RUNNERS, "roles", foreground)
    monkeypatch.setitem(testing.RUNNERS, "app", foreground)
    assert testing.run(["app", "roles", "lab"], k="x") == 1
    assert commands_run == [(["app", "roles"], "x")]
    out = capsys.readouterr().out
    assert "app and roles run beside the lab" in out and "roles + app summary" in out
    assert out.splitlines()[-1] == "7 passed, 1 failed, 2 skipped"


@pytest.mark.parametrize("lint_fails", [False, True])
def test_lint_runs_while_the_lab_is_prepared_and_a_failure_stops_before_the_lab(
    monkeypatch, tmp_path, capsys, lint_fails
):
    """With the lab, lint runs in the background during the lab's preparation (system
    packages, host images), at the usual priority; the lab starts once lint has passed, and
    a lint failure still stops the run before it."""
    monkeypatch.setattr(testing, "ROOT", tmp_path)
    monkeypatch.setattr(testing, "ARTIFACTS", tmp_path / "artifacts")
    started, finished = tmp_path / "lint-started", tmp_path / "lint-finished"
    counts = "3 passed, 1 failed, 0 skipped" if lint_fails else "4 passed, 0 failed, 0 skipped"
    script = (
        f"touch {started}; sleep 1; echo 'ruff check (0.1 s)'; echo '{counts}'; touch {finished}"
    )
    commands, events = [], []

    def command(suites, k):
        commands.append(suites)
        return ["sh", "-c", script]

    def prepare(lab=False):
        deadline = time.monotonic() + 5
        while not started.exists():
            assert time.monotonic() < deadline, "lint did not start before the preparation"
            time.sleep(0.05)
        events.append("prepared while lint ran" if not finished.exists() else "prepared after")

    monkeypatch.setattr(testing, "_beside_command", command)
    monkeypatch.setattr(testing, "_system_packages", prepare)
    monkeypatch.setattr(testing, "other_lab", lambda: None)
    monkeypatch.setitem(testing.RUNNERS, "lint", lambda k, s: pytest.fail("lint in the foreground"))
    monkeypatch.setitem(testing.RUNNERS, "lab", lambda k, s: events.append("lab") or (2, 0, 0))
    from preau_ops.lab import engine, image

    monkeypatch.setattr(engine, "ensure", lambda progress=None: None)
    monkeypatch.setattr(image, "build_bare", lambda client, progress=None: False)
    monkeypatch.setattr(image, "build_baked", lambda client, progress=None: False)
    code = testing.run(["lint", "lab"])
    assert commands == [["lint"]]
    out = capsys.readouterr().out
    assert "ruff check (0.1 s)" in out  # lint's own lines reach the terminal
    if lint_fails:
        assert code == 1 and events == ["prepared while lint ran"]
        assert "lint failed" in out
    else:
        assert code == 0 and events == ["prepared while lint ran", "lab"]
        assert out.splitlines()[-1] == "6 passed, 0 failed, 0 skipped"


@pytest.mark.parametrize("lint_fails", [False, True])
def test_the_suites_beside_the_lab_start_before_its_host_images_and_stop_when_lint_fails(
    monkeypatch, tmp_path, capsys, lint_fails
):
    """The suites beside the lab used to start with the lab, after ~90 s of host images and
    lint that left a core idle: they start once the system packages are in, before the images
    are built. A lint failure still stops the run: their run is ended, all of it."""
    monkeypatch.setattr(testing, "ROOT", tmp_path)
    monkeypatch.setattr(testing, "ARTIFACTS", tmp_path / "artifacts")
    started, child = tmp_path / "beside-started", tmp_path / "beside-child.pid"
    lint_counts = "5 passed, 1 failed, 0 skipped" if lint_fails else "6 passed, 0 failed, 0 skipped"
    scripts = {
        "lint": f"sleep 0.5; echo '{lint_counts}'",
        # a child of its own, as deploy.py test's pytest and molecule are
        "beside": f"sleep 60 & echo $! > {child}; touch {started}; wait; echo '3 passed, 0 failed, 0 skipped'",
    }
    events = []

    def command(suites, k):
        return ["sh", "-c", scripts["lint" if suites == ["lint"] else "beside"]]

    def images():
        deadline = time.monotonic() + 5
        while not started.exists():
            assert time.monotonic() < deadline, "the suites beside did not start first"
            time.sleep(0.05)
        events.append("images")

    monkeypatch.setattr(testing, "_beside_command", command)
    monkeypatch.setattr(testing, "_system_packages", lambda lab=False: events.append("packages"))
    monkeypatch.setattr(testing, "_host_images", images)
    monkeypatch.setattr(testing, "other_lab", lambda: None)
    monkeypatch.setattr(testing, "_end_beside", _ends_beside_quickly(events))
    monkeypatch.setitem(testing.RUNNERS, "lab", lambda k, s: events.append("lab") or (2, 0, 0))
    code = testing.run(["lint", "unit", "lab"])
    assert events[:2] == ["packages", "images"]
    if lint_fails:
        assert code == 1 and "lab" not in events
        pid = int(child.read_text())
        with pytest.raises(ProcessLookupError):  # its child too was ended
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)
        assert "lint failed" in capsys.readouterr().out
    else:
        assert code == 0 and "lab" in events


def _ends_beside_quickly(events):
    """_end_beside, but the beside run (which sleeps a minute) is ended, not waited for."""
    real = testing._end_beside

    def end(process, what):
        if what.suites != ["lint"]:
            testing._stop_beside(process)
            events.append("beside ended")
            return 3, 0, 0
        return real(process, what)

    return end


def test_up_then_test_replaces_the_lab_of_another_topology(monkeypatch, capsys):
    """`./deploy.py up` (a standard lab) then `./deploy.py test`: the lab tests (prodlike) used
    to fail after the other tiers ("the lab is already up with topology 'standard'"). The run
    says in its first lines that the lab tier replaces it; the lab tier removes it, then runs."""
    from preau_ops.lab import engine, hosts, partners, relay

    events = []
    monkeypatch.delenv("PREAU_LAB_TOPOLOGY", raising=False)
    monkeypatch.setattr(engine, "answers", lambda: True)
    monkeypatch.setattr(hosts, "read_state", lambda: {"topology": "standard"})
    monkeypatch.setattr(hosts, "container_states", lambda: {"preau-web": "running"})
    monkeypatch.setattr(relay, "down", lambda: events.append("relay down") or True)
    # the partners too: this test removed the real lab's partners (their container and their
    # declaration in the lab inventory) when the unit suite ran beside the lab suite
    monkeypatch.setattr(partners, "down", lambda: events.append("partners down") or True)
    monkeypatch.setattr(hosts, "down", lambda progress=None: events.append("hosts down") or ["x"])
    monkeypatch.setattr(testing, "_pytest", lambda *a: events.append("lab tests") or (1, 0, 0))
    assert testing.other_lab() == "standard"
    assert testing.run(["lab"]) == 0
    out = capsys.readouterr().out
    assert out.index("the lab is up with topology 'standard'") < out.index("replaced")
    assert "the lab tier replaces it" in out
    assert events == ["relay down", "partners down", "hosts down", "lab tests"]
    # the same topology as the tests' (or no lab): nothing said, nothing removed
    monkeypatch.setattr(hosts, "read_state", lambda: {"topology": "prodlike"})
    assert testing.other_lab() is None
    monkeypatch.setattr(engine, "answers", lambda: False)
    assert testing.other_lab() is None


def test_without_the_lab_roles_and_app_run_in_the_foreground(monkeypatch, capsys):
    ran = []
    monkeypatch.setattr(testing, "_start_beside", lambda *a: pytest.fail("started beside"))
    for suite in ("app", "roles"):
        monkeypatch.setitem(
            testing.RUNNERS, suite, lambda k, s, name=suite: ran.append(name) or (1, 0, 0)
        )
    assert testing.run(["roles", "app"]) == 0
    assert ran == ["app", "roles"]
    assert capsys.readouterr().out.splitlines()[-1] == "2 passed, 0 failed, 0 skipped"


def test_a_failing_pytest_suite_names_its_failed_tests_in_the_summary(monkeypatch, tmp_path):
    """A real pytest run with one failing test and one erroring fixture: the summary row names
    both (a suite that ran beside the lab reaches the terminal only by its last lines)."""
    monkeypatch.setattr(testing, "ARTIFACTS", tmp_path / "artifacts")
    suite = tmp_path / "suite" / "tests" / "sub"
    suite.mkdir(parents=True)
    (suite / "test_probe.py").write_text(
        "import pytest\n"
        "@pytest.fixture\n"
        "def broken():\n    raise RuntimeError('fixture')\n"
        "def test_ok():\n    pass\n"
        "def test_wrong():\n    assert 1 == 2\n"
        "def test_error(broken):\n    pass\n"
    )
    counts = testing._pytest(["-q"], tmp_path / "suite", "probe", None, tmp_path / "probe.log")
    assert counts == (1, 2, 0)
    summary = console.Summary("t")
    testing._report("probe", counts, time.monotonic(), summary)
    ((_, result, detail),) = summary.rows
    assert result == "failed"
    named = detail.split("; failed: ")[1].split(", ")  # in the order they ran (random)
    assert sorted(named) == [
        "tests/sub/test_probe.py::test_error",
        "tests/sub/test_probe.py::test_wrong",
    ], detail


def test_the_slowest_molecule_scenarios_start_first_and_exist():
    """Two scenarios run at a time: the longest start first, or one of them runs alone at the
    end. A renamed scenario must not silently lose its place."""
    order = [f"{role}/{name}" for role, name, _ in testing._scenarios(None)[0]]
    assert order[: len(testing.SLOW_SCENARIOS)] == list(testing.SLOW_SCENARIOS)
    assert sorted(order[len(testing.SLOW_SCENARIOS) :]) == order[len(testing.SLOW_SCENARIOS) :]


def test_a_failing_molecule_scenario_is_named_in_the_summary(monkeypatch, tmp_path):
    """CI showed `roles: 11 passed, 1 failed` and no name: the scenario's failure was printed
    in the middle of the beside log, whose last lines alone reach the terminal. The summary row
    now names it and its log. The engine and molecule are the boundary here."""

    monkeypatch.setattr(testing, "ROOT", tmp_path)
    monkeypatch.setattr(testing, "ARTIFACTS", tmp_path / "artifacts")
    monkeypatch.setattr(testing, "FAILURES", {})
    scenarios = [("postgresql", "patroni", tmp_path), ("postgresql", "default", tmp_path)]
    monkeypatch.setattr(testing, "_scenarios", lambda k: (scenarios, 0))
    monkeypatch.setattr(testing, "_remove_leftovers", lambda client, chosen: None)
    monkeypatch.setattr(testing, "_host_images", lambda: None)
    monkeypatch.setattr(testing, "_other_releases", lambda chosen: [])
    monkeypatch.setattr(testing, "_mirror_ip", lambda: "192.0.2.1")

    def molecule(role, name, role_dir, env):
        log = tmp_path / "artifacts" / "molecule" / f"{role}-{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("TASK [wait]\nfatal: timed out\n")
        return f"{role}/{name}", name != "patroni", 1.0

    monkeypatch.setattr(testing, "_molecule", molecule)
    counts = testing._molecule_all(None)
    assert counts[:2] == (1, 1)
    summary = console.Summary("t")
    testing._report("roles", counts, time.monotonic(), summary)
    ((_, result, detail),) = summary.rows
    assert result == "failed"
    assert detail.endswith(
        "; failed: molecule postgresql/patroni (artifacts/molecule/postgresql-patroni.log)"
    ), detail


def test_containers_left_by_an_interrupted_molecule_run_are_removed_first():
    """The scenarios start with `create` (no `destroy` finding nothing on a fresh machine):
    the containers an interrupted run left, named as the chosen scenarios' platforms, are
    removed before them; other containers are not looked at. Docker is the boundary."""
    from docker.errors import NotFound

    removed, asked = [], []

    class Container:
        def __init__(self, name):
            self.name = name

        def remove(self, force):
            assert force
            removed.append(self.name)

    class Containers:
        def get(self, name):
            asked.append(name)
            if name != "bk-repo":
                raise NotFound(name)
            return Container(name)

    class Client:
        containers = Containers()

    scenarios = [s for s in testing._scenarios(None)[0] if s[:2] == ("backup", "default")]
    testing._remove_leftovers(Client(), scenarios)
    assert asked == ["bk-db", "bk-repo"]
    assert removed == ["bk-repo"]


def test_the_roles_suite_builds_the_debian_13_image_only_for_the_scenarios_naming_it():
    """base/default runs a platform on preau-lab:trixie-bare (issue #27): `test roles` builds
    that image when the scenario is chosen, and not for scenarios on the lab's own images."""
    chosen, _ = testing._scenarios("base/default")
    assert testing._other_releases(chosen) == ["trixie"]
    chosen, _ = testing._scenarios("nginx/default")
    assert testing._other_releases(chosen) == []


def test_a_release_without_a_lab_image_is_refused_by_name():
    from preau_ops.lab import image

    assert image.bare_tag("bookworm") == "bare"
    assert image.bare_tag("trixie") == "trixie-bare"
    with pytest.raises(OpsError, match="'sid'"):
        image.bare_tag("sid")
    assert "deb http://deb.debian.org/debian-security trixie-security main" in image.apt_sources(
        "trixie"
    )


def test_every_scenario_play_but_base_default_s_takes_mitogen_s_strategy_from_the_suite():
    """The roles suite ran every converge with Ansible's own strategy: a task cost one `docker
    exec` and one Python in the container (backup/default: 256 s, 267 s of CPU; 142 s and
    133 s with Mitogen's). base/default keeps Ansible's own: the roles are proven both ways."""
    import yaml

    env = testing.molecule_strategy()
    assert env["PREAU_MOLECULE_STRATEGY"] == "mitogen_linear"
    assert (Path(env["ANSIBLE_STRATEGY_PLUGINS"]) / "mitogen_linear.py").exists()
    line = "{{ lookup('env', 'PREAU_MOLECULE_STRATEGY') or 'linear' }}"
    for converge in ROOT.glob("roles/*/molecule/*/converge.yml"):
        plays = [p for p in yaml.safe_load(converge.read_text()) if "hosts" in p]
        named = {p.get("strategy") for p in plays}
        if converge.parent.name == "default" and converge.parts[-4] == "base":
            assert named == {None}, converge
        else:
            assert named == {line}, converge
        # Mitogen's docker connection finds a container by ansible_host: never an address
        scenario = yaml.safe_load((converge.parent / "molecule.yml").read_text())
        host_vars = scenario.get("provisioner", {}).get("inventory", {}).get("host_vars", {})
        for name, variables in host_vars.items():
            if "ansible_host" in variables and named != {None}:
                assert variables["ansible_host"] == name, converge
