"""Maintenance on real hosts: zero-downtime release (pyinfra) with an expand migration and its
backfill, a broken release switched back automatically, rollback, a contract release refused —
under continuous load through the load balancer, as a logged-in teacher whose page reads the
migrated table. (A contract release allowed, then rollback refused: the bench's
release_with_migration ships one; the refusal itself is unit-tested on both sides.)"""

import time

import pytest

from preau_ops import procedures, release, runner
from preau_ops.bench import variants
from preau_ops.paths import STATE_DIR

from .conftest import deploy, forgive_this_address, psql, variant
from .loadgen import Client, Load, https_status

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
    yield lab
    # the drill's migrations, which no release has once the next one ships, would make every
    # later rollback check refuse (unknown effect): forgotten (its nullable column stays,
    # unread)
    psql(lab, variants.forget_sql(FIELD), "preau")


def _entry(lab):
    lb = lab.hosts_in("lb")[0]
    return lb.address, lb.vars["preau_domain"]


UAI = "0820021C"  # seed_demo's Collège Jean Moulin
DASHBOARD = f"/e/{UAI}/"  # reads core_establishment (the tenant) and much more
# This run's column (a lab that ran the drill before keeps the earlier ones' migrations applied).
FIELD = f"lab_motto_{RUN}"


def motto_column(lab) -> str:
    """core_establishment.FIELD: 'absent', or how many establishments lack one."""
    exists = psql(
        lab,
        "SELECT count(*) FROM information_schema.columns "
        f"WHERE table_name = 'core_establishment' AND column_name = '{FIELD}'",
        "preau",
    )
    if exists == "0":
        return "absent"
    return psql(lab, f"SELECT count(*) FROM core_establishment WHERE {FIELD} IS NULL", "preau")


@pytest.fixture(scope="module")
def teacher(released):
    """A logged-in teacher's session cookie (the load's user)."""
    demo = procedures.app_manage(released, "seed_demo")
    forgive_this_address(released)
    client = Client(released.hosts_in("lb")[0], CA)
    client.login("demo.prof", demo["password"])
    assert client.request("GET", DASHBOARD).status == 200
    return client.cookie_header()


def _loaded(lab, teacher) -> Load:
    address, domain = _entry(lab)
    return Load(address, domain, CA, path=DASHBOARD, workers=2, cookie=teacher)


def _only_200s(load: Load) -> None:
    assert load.total > 10
    assert load.counts[200] == load.total, dict(load.counts)


def test_release_serves_the_app_through_the_load_balancer(released, first_source):
    address, domain = _entry(released)
    assert https_status(address, domain, "/connexion/", CA) == 200
    versions = served_versions(released)
    assert set(versions.values()) == {release.source_version(first_source)}


def test_same_release_again_changes_nothing(released, first_source):
    out = deploy("release", "--source", str(first_source)).stdout
    assert "already serving" in out


def _dependencies(lab) -> dict[str, str]:
    """Per app host: its dependencies' venvs (id and when installed) and what the current
    release's .pth links to."""
    script = (
        "for d in /srv/preau/deps/*/; do echo $d $(cat $d.complete); done; "
        "cat /srv/preau/current/venv/lib/python3*/site-packages/preau-deps.pth"
    )
    with runner.session(lab, lab.hosts_in("app")) as sessions:
        return {h.name: sessions.run(h, script).stdout for h in lab.hosts_in("app")}


def test_release_with_an_expand_migration_under_load_fails_no_request(released, teacher, tmp_path):
    source = variants.with_column(variant(tmp_path, f"second-{RUN}"), FIELD)
    # the lock's id and the host's Python: the lab's app hosts run Debian 12's, 3.11
    deps = f"/srv/preau/deps/{release.build.dependencies_id(source)}-py3.11/"
    before = _dependencies(released)
    with runner.session(released, released.hosts_in("app")) as sessions:
        for host in released.hosts_in("app"):  # a lock no release uses any more
            sessions.run(host, "mkdir -p /srv/preau/deps/0123456789abcdef")
    with _loaded(released, teacher) as load:
        out = deploy("release", "--source", str(source), timeout=1200).stdout
    _only_200s(load)
    assert set(served_versions(released).values()) == {release.source_version(source)}
    assert motto_column(released) == "0", "the backfill filled every establishment"
    assert "contract" not in out
    # the same lock: the dependencies installed by the first release serve this one too (not
    # installed again), the unused venv is gone
    for name, listing in _dependencies(released).items():
        assert listing == before[name] and listing.startswith(deps), listing
        assert listing.splitlines()[-1].startswith(deps), listing


def test_broken_release_is_switched_back_under_load(released, tmp_path):
    address, domain = _entry(released)
    before = served_versions(released)
    source = variant(tmp_path, f"broken-{RUN}", broken=True)
    with Load(address, domain, CA) as load:
        result = deploy("release", "--source", str(source), check=False, timeout=1200)
    assert result.returncode == 1
    assert "failed its health check" in result.stdout
    # said as soon as the canary's process exited, with its error (not after polling it)
    said = " ".join(result.stdout.split())
    assert "exited before answering" in said and "deliberately broken release" in said, said
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


def test_a_contract_release_is_refused_and_changes_nothing(released, tmp_path):
    before = served_versions(released)
    source = variants.with_column(variant(tmp_path, f"contract-{RUN}"), FIELD, contract=True)
    result = deploy("release", "--source", str(source), check=False, timeout=1200)
    assert result.returncode == 1
    out = " ".join(result.stdout.split())
    assert "contract the schema" in out and variants.contract_migration(FIELD) in out, out[-2000:]
    assert "--allow-contract" in out and "nothing was changed" in out
    assert served_versions(released) == before
    assert motto_column(released) == "0"
    version = release.source_version(source)
    with runner.session(released, released.hosts_in("app")) as sessions:
        for host in released.hosts_in("app"):
            assert version not in release.host_releases(sessions, host).installed, host.name
