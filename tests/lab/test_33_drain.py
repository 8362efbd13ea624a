"""Taking an app host out of the load balancer (nginx role's preau-lb-drain, used by release,
rollback and patch): a drained host receives no request, the last one is never drained, and
it serves again once put back. Needs two app hosts (the scaled topology)."""

import re
import uuid

import pytest

from preau_ops import runner
from preau_ops.paths import STATE_DIR
from preau_ops.release import DRAIN

from .conftest import deploy
from .loadgen import https_status

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]
CA = str(STATE_DIR / "ca" / "ca.crt")


@pytest.fixture(scope="module")
def pair(lab):
    apps = lab.hosts_in("app")
    if len(apps) < 2:
        pytest.skip("draining needs two app hosts (scaled topology)")
    for app in apps:  # every host in service, whatever an interrupted run left drained
        on_lb(lab, f"{DRAIN} {app.name} off")
    return lab, lab.hosts_in("lb")[0], apps[0], apps[1]


def on_lb(lab, command, check=True):
    lb = lab.hosts_in("lb")[0]
    with runner.FabricSession(lb, lab) as session:
        return session.run(lb, command, check=check)


def served_by(lab, lb, count: int) -> list[str]:
    """Send `count` requests through the lb; the upstream address of each, from its log."""
    domain = lb.vars["preau_domain"]
    marker = uuid.uuid4().hex
    statuses = [https_status(lb.address, domain, f"/healthz?{marker}", CA) for _ in range(count)]
    assert statuses == [200] * count, f"requests through the lb failed: {statuses}"
    log = on_lb(lab, f"grep -h {marker} /var/log/nginx/access.log").stdout
    return [line.split(" upstream=")[1].split(":")[0] for line in log.splitlines()]


def test_a_drained_host_gets_no_request_and_serves_again_after(pair):
    lab, lb, first, second = pair
    assert on_lb(lab, f"{DRAIN} {first.name} on").stdout.strip() == "drained"
    try:
        upstreams = served_by(lab, lb, 20)
        assert len(upstreams) == 20
        assert set(upstreams) == {second.private_address}, (
            f"a drained host was sent requests: {upstreams}"
        )
    finally:
        assert on_lb(lab, f"{DRAIN} {first.name} off").stdout.strip() == "serving"
    assert first.private_address in served_by(lab, lb, 20), "the host put back gets no request"


def test_the_last_host_in_service_is_not_drained(pair):
    lab, lb, first, second = pair
    on_lb(lab, f"{DRAIN} {first.name} on")
    try:
        refused = on_lb(lab, f"{DRAIN} {second.name} on", check=False)
        assert refused.rc == 3 and "last app host in service" in refused.stderr
        assert on_lb(lab, f"{DRAIN} {second.name} status").stdout.strip() == "serving"
    finally:
        on_lb(lab, f"{DRAIN} {first.name} off")


def test_an_unknown_host_is_named(pair):
    lab, lb, _, _ = pair
    result = on_lb(lab, f"{DRAIN} nosuchhost on", check=False)
    assert result.rc == 2 and "no app host 'nosuchhost'" in result.stderr


def test_patch_takes_an_app_host_out_while_it_is_upgraded(pair):
    lab, lb, first, _ = pair
    out = deploy("patch", "--limit", first.name, timeout=900).stdout
    words = " ".join(re.sub(r"[│┃]", " ", out).split())  # the summary table wraps its cells
    assert f"{first.name} ok" in words and "out of the load balancer meanwhile" in words
    assert on_lb(lab, f"{DRAIN} {first.name} status").stdout.strip() == "serving"
