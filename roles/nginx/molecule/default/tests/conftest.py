"""testinfra hosts by container name (the inventory's ansible_host)."""

import pytest
import testinfra


@pytest.fixture(scope="module")
def ca_host():
    return testinfra.get_host("docker://nginx-ca")


@pytest.fixture(scope="module")
def acme_host():
    return testinfra.get_host("docker://nginx-acme")
