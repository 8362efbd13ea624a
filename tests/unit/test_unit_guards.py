"""The unit suite's own guard (conftest.no_real_docker): CI runs it beside the lab, on the same
Docker engine, so no unit test may reach that engine."""

import subprocess

import docker
import pytest

from .conftest import RealDockerReached


@pytest.mark.parametrize(
    "args", [["docker", "--version"], ["/usr/bin/docker", "--version"], ["dockerd", "--version"]]
)
def test_the_docker_program_is_refused(args):
    with pytest.raises(RealDockerReached, match="fake it"):
        subprocess.run(args, capture_output=True, check=False)


def test_a_docker_client_is_refused():
    with pytest.raises(RealDockerReached, match="docker.from_env"):
        docker.from_env()


def test_other_programs_still_run():
    assert subprocess.run(["true"], check=False).returncode == 0
