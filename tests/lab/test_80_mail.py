"""Mail (issue #21 item 8): the app's notification e-mails and Alertmanager's alerts go through
the SMTP relay the inventory declares once (preau_smtp_relay_*, wiring.yml derives both). In
the lab that relay is a real MTA beside the hosts (preau_ops/lab/relay.py: exim4, STARTTLS,
authenticated submission, a CA the hosts trust through the declaration), and this file reads
the messages it delivered.

One marker per run: a message of an earlier run never counts. The app's e-mail is a job of
the queue (issue #22 item 3): a notification held by quiet hours is delivered by the app's
command run on both app hosts at once (while their workers run the periodic delivery too),
and the relay gets it once. The alert comes from Alertmanager's API, mailed to the lab's
critical list after its group_wait (5 s in the lab's inventory): both are waited for
together."""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from preau_ops import monitoring_api, procedures, runner
from preau_ops.lab import relay

from . import mailing
from .conftest import deploy, wait_until

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]
MAIL_TIMEOUT = 90  # Alertmanager's group_wait (5 s in the lab) + its retries
SETTLED = 10  # seconds without a second copy after the first, the queue idle


@pytest.fixture(scope="module")
def demo(lab):
    deploy("release", timeout=1200)  # the app is there, whatever ran before
    answer = procedures.app_manage(lab, "seed_demo")
    assert mailing.UAI in {e["uai"] for e in answer["establishments"]}
    assert relay.running(), "the lab's SMTP relay is not running (`./deploy.py lab up` starts it)"
    return lab


def _deliver_everywhere(lab) -> None:
    """deliver_notifications on every app host at the same moment (each must succeed)."""
    hosts = lab.hosts_in("app")
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        runs = [pool.submit(mailing.manage, lab, host, "deliver_notifications") for host in hosts]
        for run in runs:
            run.result()


def _emails_idle(lab) -> bool:
    status = json.loads(mailing.manage(lab, lab.hosts_in("app")[0], "jobs status --json"))
    emails = status["queues"]["emails"]
    return emails["todo"] == 0 and emails["doing"] == 0


def _test_alert(lab, marker: str) -> None:
    ops = lab.hosts_in("monitoring")[0]
    now = datetime.now(UTC)
    alert = {
        "labels": {"alertname": "PreauMailTest", "severity": "critical", "instance": marker},
        "annotations": {"summary": f"Essai des alertes par e-mail {marker}"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=5)).isoformat(),
    }
    # Alertmanager's API: TLS, authenticated (an HTTPError otherwise)
    monitoring_api.request(ops, monitoring_api.ALERTMANAGER, "/api/v2/alerts", data=[alert])


def test_app_and_alertmanager_mail_through_the_declared_relay(demo):
    marker = f"test80-{uuid.uuid4().hex[:10]}"
    started = time.monotonic()
    _test_alert(demo, marker)  # first: its group_wait runs while the app mails
    saved = mailing.notify(demo, marker, "hold")
    try:
        _deliver_everywhere(demo)

        def both() -> bool:
            return len(mailing.delivered(marker)) >= 2

        wait_until(
            both, MAIL_TIMEOUT, lambda: f"the relay delivered {len(mailing.delivered(marker))} of 2"
        )
        took = time.monotonic() - started
        time.sleep(SETTLED)
        wait_until(lambda: _emails_idle(demo), 60, "the e-mails' queue does not empty")
    finally:
        mailing.restore(demo, saved)
    messages = mailing.delivered(marker)
    app_mails = [m for m in messages if str(m["Subject"]) == mailing.subject(marker)]
    assert len(app_mails) == 1, f"{len(app_mails)} e-mails for one notification"
    app_mail = app_mails[0]
    alert_mail = next(m for m in messages if "[critical] PreauMailTest" in str(m["Subject"]))
    assert app_mail["To"] == mailing.address(marker)
    assert alert_mail["To"] == "astreinte@preau.test"  # the lab's critical list
    # Both went over STARTTLS with the platform's account: exim's Received says (utf8)esmtpsa,
    # s = TLS, a = authenticated (Alertmanager asks for SMTPUTF8, hence utf8).
    for message in (app_mail, alert_mail):
        assert re.search(r" with (utf8)?esmtpsa ", str(message["Received"])), message["Received"]
    print(f"app e-mail and alert delivered by the relay in {took:.1f} s")


# --------------------------------------------------------------------- the dead-man's switch

# The drill itself (Prometheus stopped, the switch's mail after the delay, the mail when it is
# back: ~2 min in the lab) is the bench's deadman_delay row (preau_ops/bench/monitoring.py; 96 s
# measured in the lab); the switch's decisions are unit-tested (tests/unit/test_deadman.py).
DEADMAN_STATE = "/var/lib/preau-deadman/state.json"
PING_PERIOD = 30  # the lab's Watchdog reaches the switch every 10-25 s


def test_the_dead_man_s_switch_hears_the_watchdog(lab):
    """The chain Prometheus -> Alertmanager -> the switch on the lb (https, CA-verified, only
    the monitoring host may reach it) is live: a Watchdog arrived within the last period, and
    no silence is being told."""
    lb = lab.hosts_in("lb")[0]
    seen: list[dict] = []

    def heard() -> bool:
        with runner.FabricSession(lb, lab) as session:
            out = session.run(lb, f"cat {DEADMAN_STATE} && echo && date +%s").stdout.splitlines()
        state, now = json.loads(out[0]), float(out[-1])
        seen.append({**state, "age": round(now - state["last_ping"], 1)})
        return seen[-1]["age"] < PING_PERIOD and not state["silent"]

    wait_until(heard, 3 * PING_PERIOD, lambda: f"the switch heard no Watchdog: {seen[-1:]}", 5)
