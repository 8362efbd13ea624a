"""Maintenance on real hosts: zero-downtime release (pyinfra), a broken release switched
back automatically, rollback — under continuous load through the load balancer."""

import time

import pytest

from preau_ops import release, runner
from preau_ops.paths import STATE_DIR

from .conftest import deploy, variant
from .loadgen import Load, https_status

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]
CA = str(STATE_DIR / "ca" / "ca.crt")


def served_versions(lab) -> dict:
    with runner.session(lab, lab.hosts_in("app")) as sessions:
        return {h.name: release.host_releases(sessions, h).current for h in lab.hosts_in("app")}


FIRST: dict = {}
# The variants of this run: versions no host has installed yet, whatever ran before (a version
# installed by an earlier run keeps its old place among the releases, and rollback's target is
# the release installed just before the current one).
RUN = time.time_ns()


@pytest.fixture(scope="module")
def first_source(tmp_path_factory):
    """A snapshot of the app: the suite ships fixed sources, whatever happens in app/."""
    return variant(tmp_path_factory.mktemp("release"), f"first-{RUN}")


@pytest.fixture(scope="module")
def released(lab, first_source):
    deploy("release", "--source", str(first_source), timeout=1200)
    FIRST.update(served_versions(lab))
    return lab


def _entry(lab):
    lb = lab.hosts_in("lb")[0]
    return lb.address, lb.vars["preau_domain"]


def test_release_serves_the_app_through_the_load_balancer(released, first_source):
    address, domain = _entry(released)
    assert https_status(address, domain, "/connexion/", CA) == 200
    versions = served_versions(released)
    assert set(versions.values()) == {release.source_version(first_source)}


def test_same_release_again_changes_nothing(released, first_source):
    out = deploy("release", "--source", str(first_source)).stdout
    assert "already serving" in out


def test_new_release_under_load_fails_no_request(released, tmp_path):
    address, domain = _entry(released)
    source = variant(tmp_path, f"second-{RUN}")
    with Load(address, domain, CA) as load:
        deploy("release", "--source", str(source), timeout=1200)
    assert load.total > 20
    assert load.failed == 0, dict(load.counts)
    assert set(served_versions(released).values()) == {release.source_version(source)}


def test_broken_release_is_switched_back_under_load(released, tmp_path):
    address, domain = _entry(released)
    before = served_versions(released)
    source = variant(tmp_path, f"broken-{RUN}", broken=True)
    with Load(address, domain, CA) as load:
        result = deploy("release", "--source", str(source), check=False, timeout=1200)
    assert result.returncode == 1
    assert "failed its health check" in result.stdout
    assert served_versions(released) == before
    assert load.failed == 0, dict(load.counts)
    # a failed release is removed: `rollback` can never pick it as the previous release
    broken = release.source_version(source)
    with runner.session(released, released.hosts_in("app")) as sessions:
        for host in released.hosts_in("app"):
            assert broken not in release.host_releases(sessions, host).installed, host.name


def test_rollback_returns_to_the_previous_release(released):
    before = served_versions(released)
    deploy("rollback")
    after = served_versions(released)
    assert after != before
    assert after == FIRST
    address, domain = _entry(released)
    assert https_status(address, domain, "/connexion/", CA) == 200
