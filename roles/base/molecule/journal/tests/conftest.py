"""testinfra hosts by container name (the inventory's ansible_host)."""

import pytest
import testinfra


@pytest.fixture(scope="module")
def ops():
    return testinfra.get_host("docker://journal-ops")


@pytest.fixture(scope="module")
def app():
    return testinfra.get_host("docker://journal-app")
