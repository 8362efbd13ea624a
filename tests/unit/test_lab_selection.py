"""`deploy.py test lab -k EXPR` runs only the lab tests EXPR keeps: the lab's conftest puts its
tests back in file order after pytest-randomly, and must not put back those -k deselected
(it did: every lab test ran, while pytest said 'N deselected')."""

import subprocess
import sys

import pytest

from preau_ops.paths import ROOT


def test_k_keeps_only_the_lab_tests_it_names():
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/lab", "--collect-only", "-q"]
        + ["-p", "no:cacheprovider", "-k", "test_90_down or test_10_lab"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    items = [line for line in listed.splitlines() if "::" in line]
    files = [item.split("::")[0] for item in items]
    assert set(files) == {"tests/lab/test_10_lab.py", "tests/lab/test_90_down.py"}, items
    assert files == sorted(files)  # file order kept


def _collected(*args: str) -> list[str]:
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/lab", "--collect-only", "-q"]
        + ["-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in listed.splitlines() if "::" in line]


def test_the_default_lab_run_leaves_the_drills_out_and_drills_runs_only_them():
    """`deploy.py test lab` passes -m LAB_MARKERS[False], `--drills` -m LAB_MARKERS[True]: the
    two sets part the lab's tests, and the long fault drills are in the second only."""
    from preau_ops.testing import LAB_MARKERS

    default = _collected("-m", LAB_MARKERS[False])
    drills = _collected("-m", LAB_MARKERS[True])
    everything = _collected()
    assert sorted(default + drills) == sorted(everything)
    assert [item.split("::")[1] for item in drills] == [
        "test_a_converge_that_restarts_the_app_under_load_fails_no_request",
        "test_the_rentree_for_real_then_the_way_back",
        "test_a_signing_key_rotation_under_load_fails_no_request",
        "test_backup_fails_loudly_when_the_backup_disk_is_full",
        "test_postgresql_down_gives_a_clear_503_and_recovers_alone",
        "test_a_dead_repository_never_fills_the_database_disk_and_is_seen_from_the_repository",
        "test_an_alert_fires_for_the_app_host_down",
        # the last drill: it moves the lab to Debian 13 and PostgreSQL 17, then takes it down
        "test_the_database_and_backup_hosts_move_to_debian_13_with_15_serving",
        "test_a_converge_for_17_before_the_upgrade_is_refused_by_the_role",
        "test_db_upgrade_moves_every_row_to_17_in_a_short_window",
        "test_the_app_hosts_move_one_at_a_time_under_load",
        "test_the_moved_platform_passes_the_audit_and_finish_drops_15",
    ]
    assert any(item.startswith("tests/lab/test_90_down.py") for item in default)  # the lab goes


def test_drills_are_refused_beside_other_suites():
    from preau_ops import testing
    from preau_ops.errors import OpsError

    with pytest.raises(OpsError, match="drills"):
        testing.run(["lab", "app"], drills=True)
