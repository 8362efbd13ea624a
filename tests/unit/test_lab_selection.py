"""`deploy.py test lab -k EXPR` runs only the lab tests EXPR keeps: the lab's conftest puts its
tests back in file order after pytest-randomly, and must not put back those -k deselected
(it did: every lab test ran, while pytest said 'N deselected')."""

import subprocess
import sys

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
