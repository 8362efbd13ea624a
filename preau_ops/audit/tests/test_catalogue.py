"""The controls' bookkeeping: every control names an id and its requirement, `--control`
selects by id or prefix, and each pytest report becomes the result the reports show."""

from __future__ import annotations

import re
from typing import Any, Literal

import pytest
from _pytest.reports import TestReport

from preau_ops import platform
from preau_ops.audit import catalogue
from preau_ops.audit.catalogue import Control
from preau_ops.paths import ROOT


def test_every_control_has_an_id_a_title_a_requirement_and_known_groups() -> None:
    controls = catalogue.declared()
    assert len(controls) >= 30, sorted(controls)
    assert catalogue.problems(controls, set(platform.groups())) == []


def test_the_readme_counts_the_controls_there_are() -> None:
    """The audit row of the README's command table says how many controls there are."""
    row = next(
        line
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith("| `audit")
    )
    claimed = re.search(r"(\d+) controls", row)
    assert claimed, row
    assert int(claimed.group(1)) == len(catalogue.declared())


def test_a_control_without_requirement_is_reported() -> None:
    controls = {
        "system.test_a": Control("SSH-01", "keys only", "ANSSI-BP-028 R79", ("all",)),
        "system.test_b": Control("SSH-02", "algorithms", "  ", ("all",)),
    }
    assert catalogue.problems(controls, {"lb"}) == ["system.test_b (SSH-02): names no requirement"]


def test_a_requirement_naming_no_id_is_reported() -> None:
    controls = {
        "services.test_a": Control("PG-03", "not superuser", "Least privilege", ("db",)),
        "services.test_b": Control("BKP-05", "encrypted", "RGPD art. 32-1-a", ("backup",)),
    }
    assert catalogue.problems(controls, {"db", "backup"}) == [
        "services.test_a (PG-03): its requirement names no id (ANSSI-BP-028 Rn, RGPD art. n, "
        "issue #n, declared state…: coverage.requirement_ids)"
    ]


def test_bad_and_repeated_ids_unknown_groups_and_no_title_are_reported() -> None:
    controls = {
        "a.test_x": Control("ssh1", "x", "ANSSI-BP-028 R1", ("all",)),
        "a.test_y": Control("TLS-01", "y", "ANSSI-BP-028 R2", ("lb",)),
        "b.test_z": Control("TLS-01", "", "ANSSI-BP-028 R3", ("lb", "mail")),
    }
    assert catalogue.problems(controls, {"lb", "app"}) == [
        "a.test_x: id 'ssh1' is not like SSH-01",
        "b.test_z: id TLS-01 already names a.test_y",
        "b.test_z (TLS-01): no title",
        "b.test_z (TLS-01): groups ['mail'] unknown",
    ]


def test_control_files_put_drift_first_and_leave_the_conftest_out() -> None:
    names = [p.name for p in catalogue.control_files()]
    assert names[0] == "drift.py"
    assert "conftest.py" not in names and "__init__.py" not in names
    assert {f"{p.stem}" for p in catalogue.control_files()} == {
        where.split(".")[0] for where in catalogue.declared()
    }


@pytest.mark.parametrize(
    ("wanted", "chosen"),
    [
        ([], ["SSH-01", "SSH-02", "SSHD-01", "TLS-01"]),
        (["SSH"], ["SSH-01", "SSH-02"]),
        (["SSH-"], ["SSH-01", "SSH-02"]),
        (["SSH-01"], ["SSH-01"]),
        (["SSH-01", "TLS"], ["SSH-01", "TLS-01"]),
        (["SS"], []),
        (["SSH-0"], []),
    ],
)
def test_control_selects_by_id_or_by_family(wanted: list[str], chosen: list[str]) -> None:
    ids = ["SSH-01", "SSH-02", "SSHD-01", "TLS-01"]
    assert [i for i in ids if catalogue.selected(i, wanted)] == chosen


def test_options_come_from_the_environment() -> None:
    assert catalogue.options({}) == {
        "limit": None, "controls": [], "skip": [], "as_auditor": False, "control_dir": None,
        "lynis_scan": False,
    }  # fmt: skip
    environ = {
        "PREAU_AUDIT_LIMIT": "db,app1", "PREAU_AUDIT_CONTROLS": "SSH,PG-01",
        "PREAU_AUDIT_SKIP": "DRIFT-01", "PREAU_AUDIT_AS_AUDITOR": "1",
        "PREAU_AUDIT_CONTROL_DIR": "/tmp/x", "PREAU_AUDIT_LYNIS_SCAN": "1",
    }  # fmt: skip
    assert catalogue.options(environ) == {
        "limit": "db,app1", "controls": ["SSH", "PG-01"], "skip": ["DRIFT-01"],
        "as_auditor": True, "control_dir": "/tmp/x", "lynis_scan": True,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("wanted", "skipped", "chosen"),
    [
        ([], ["DRIFT-01"], ["SSH-01", "SSH-02", "SSHD-01"]),
        ([], ["SSH"], ["SSHD-01", "DRIFT-01"]),
        (["SSH"], ["SSH-02"], ["SSH-01"]),
        (["SSH-01"], ["SSH"], []),
    ],
)
def test_skip_leaves_out_what_it_names_by_id_or_by_family(
    wanted: list[str], skipped: list[str], chosen: list[str]
) -> None:
    ids = ["SSH-01", "SSH-02", "SSHD-01", "DRIFT-01"]
    assert [i for i in ids if catalogue.selected(i, wanted, skipped)] == chosen


# ------------------------------------------------------------------------------ results

CONTROL = Control("PG-02", "scram only", "ANSSI PostgreSQL", ("db",))


def report(
    when: Literal["setup", "call", "teardown"],
    outcome: Literal["passed", "failed", "skipped"],
    longrepr: Any = None,
    evidence: tuple[str, ...] = (),
    control: Control | None = CONTROL,
    host: str | None = "db",
) -> TestReport:
    """A pytest report of one phase, as xdist hands it to the controller."""
    props = catalogue.properties(control, host) if control else []
    props += [("evidence", e) for e in evidence]
    return TestReport("x.py::test_x[db]", ("x.py", 1, "test_x"), {}, outcome, longrepr, when,
                      duration=0.123, user_properties=props)  # fmt: skip


class Crash:
    """What pytest's failure representation carries (its `reprcrash`)."""

    def __init__(self, message: str) -> None:
        self.reprcrash = type("ReprCrash", (), {"message": message})()


def test_a_passed_call_is_a_passed_result_with_its_evidence_in_order() -> None:
    result = catalogue.record(report("call", "passed", evidence=("md5 absent", "2 lines")))
    assert result == {
        "control": "PG-02", "title": "scram only", "requirement": "ANSSI PostgreSQL",
        "host": "db", "status": "passed", "evidence": ["md5 absent", "2 lines"],
        "commands": [], "message": "", "duration": 0.12,
    }  # fmt: skip


def test_a_failed_call_keeps_the_assertion_message_without_pytest_decorations() -> None:
    crash = Crash("AssertionError: pg_hba line uses md5\nassert not ['x']")
    result = catalogue.record(report("call", "failed", crash))
    assert result is not None
    assert (result["status"], result["message"]) == ("failed", "pg_hba line uses md5")


def test_a_skip_gives_its_reason() -> None:
    skip = ("x.py", 3, "Skipped: no read-only PostgreSQL access")
    for when in ("setup", "call"):
        result = catalogue.record(report(when, "skipped", skip))
        assert result is not None
        assert (result["status"], result["message"]) == (
            "skipped",
            "no read-only PostgreSQL access",
        )


def test_setup_and_teardown_decide_only_when_they_fail() -> None:
    assert catalogue.record(report("setup", "passed")) is None
    assert catalogue.record(report("teardown", "passed")) is None
    failed = catalogue.record(report("teardown", "failed", "Failed: connection lost"))
    assert failed is not None
    assert (failed["status"], failed["message"]) == ("failed", "connection lost")
    errored = catalogue.record(report("setup", "failed", "fixture broke"))
    assert errored is not None and errored["status"] == "failed"


def test_a_platform_control_and_a_test_that_is_no_control() -> None:
    platform_result = catalogue.record(report("call", "passed", host=None))
    assert platform_result is not None and platform_result["host"] == "platform"
    assert catalogue.record(report("call", "passed", control=None)) is None


def test_the_commands_a_control_ran_are_kept_trimmed_in_its_result() -> None:
    item = type("Item", (), {"user_properties": catalogue.properties(CONTROL, "db")})()
    evidence = catalogue.Evidence(item)
    evidence("md5 absent")
    evidence.command("db$ cat /etc/postgresql/15/main/pg_hba.conf", 0, "x" * 5000)
    report_ = TestReport("x.py::test_x[db]", ("x.py", 1, "test_x"), {}, "passed", None, "call",
                         duration=0.1, user_properties=item.user_properties)  # fmt: skip
    result = catalogue.record(report_)
    assert result is not None and result["evidence"] == ["md5 absent"]
    (command,) = result["commands"]
    assert command["command"] == "db$ cat /etc/postgresql/15/main/pg_hba.conf"
    assert command["rc"] == 0 and len(command["output"]) < 700
    assert "[… 4400 characters cut …]" in command["output"]
    assert catalogue.trimmed("  short \n") == "short"


def _lab_hosts() -> list[Any]:
    from preau_ops.inventory import Host

    return [
        Host("lb", ["lb"], {}),
        Host("app1", ["app"], {}),
        Host("db", ["db"], {}),
        Host("ops", ["monitoring", "backup"], {}),
    ]


@pytest.mark.parametrize(
    ("controls", "skip", "workers"),
    [
        (["OPS-01"], [], 0),  # one host (ops): pytest's own process
        (["DRIFT-01"], [], 0),  # one platform control
        (["DRIFT-01", "OPS-01"], [], 2),
        (["SSH"], [], 4),  # every host: one worker each, up to the most
        ([], ["DRIFT-01"], 4),
    ],
)
def test_a_run_reaching_one_host_or_one_platform_control_starts_no_worker(
    controls: list[str], skip: list[str], workers: int
) -> None:
    """`audit --control OPS-01` started 4 xdist workers for one check (9.1 s of CPU on the
    prodlike lab against 2.1 s in one process)."""
    import importlib

    run = importlib.import_module("preau_ops.audit.run")
    request = run._Request(None, controls, False, False, skip)
    assert run._worker_count(run._groups(_lab_hosts(), request)) == workers
    assert run._groups(_lab_hosts()[2:3], run._Request("db", ["SSH"], False, False)) == {"db"}


def test_a_control_taking_a_host_runs_per_host_and_one_taking_none_once() -> None:
    controls = catalogue.declared()
    by_id = {control.id: where for where, control in controls.items()}
    assert catalogue.checks_hosts(by_id["SSH-01"])
    assert catalogue.checks_hosts(by_id["OPS-01"])  # the ops host's
    assert not catalogue.checks_hosts(by_id["DRIFT-01"])
