"""testinfra host by container name (the inventory's ansible_host)."""

import pytest
import testinfra


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host("docker://pki-db")
