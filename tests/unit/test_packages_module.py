"""roles/base/library/preau_packages.py: the package lists are fetched again while the
platform's apt proxy cannot serve them yet (a fresh platform: its upstream answered 503 for
over a minute and the first converge failed with "Unable to locate package")."""

import importlib.util

import pytest

from preau_ops.paths import ROLES

SPEC = importlib.util.spec_from_file_location(
    "preau_packages", ROLES / "base" / "library" / "preau_packages.py"
)
packages = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(packages)


class Failed(Exception):
    pass


class FakeModule:
    """AnsibleModule's run_command and fail_json; `answers` are apt-get update's exit codes."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.commands = []

    def run_command(self, argv, environ_update=None):
        self.commands.append(argv)
        return self.answers.pop(0), "", "E: Failed to fetch InRelease 503"

    def fail_json(self, **kwargs):
        raise Failed(kwargs["msg"])


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(packages.time, "sleep", lambda seconds: None)


def test_a_partial_update_is_retried_until_every_list_is_fetched():
    module = FakeModule([100, 100, 0])
    packages.update(module, "-oDPkg::Lock::Timeout=300", {})
    assert len(module.commands) == 3
    assert all("--error-on=any" in argv for argv in module.commands)


def test_an_update_that_keeps_failing_names_its_error():
    module = FakeModule([100] * packages.UPDATE_ATTEMPTS)
    with pytest.raises(Failed, match=r"failed 5 times: E: Failed to fetch InRelease 503"):
        packages.update(module, "-oDPkg::Lock::Timeout=300", {})
