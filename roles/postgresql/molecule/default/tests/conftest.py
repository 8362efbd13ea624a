"""testinfra hosts by container name (the inventory's ansible_host)."""

import pytest
import testinfra


@pytest.fixture(scope="module")
def db():
    return testinfra.get_host("docker://postgresql-db")


@pytest.fixture(scope="module")
def app():
    return testinfra.get_host("docker://postgresql-app")
