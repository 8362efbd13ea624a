"""Mail (issue #21 item 8): the app's notification e-mails and Alertmanager's alerts go through
the SMTP relay the inventory declares once (preau_smtp_relay_*, wiring.yml derives both). In
the lab that relay is a real MTA beside the hosts (preau_ops/lab/relay.py: exim4, STARTTLS,
authenticated submission, a CA the hosts trust through the declaration), and this file reads
the messages it delivered.

One marker per run: a message of an earlier run never counts. The app's e-mail comes from the
app's own command (deliver_notifications) delivering a notification held by quiet hours; the
alert from Alertmanager's API, mailed to the lab's critical list after its group_wait (5 s in
the lab's inventory): both are waited for together."""

from __future__ import annotations

import email
import email.policy
import json
import re
import shlex
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from preau_ops import monitoring_api, procedures, runner
from preau_ops.lab import relay
from preau_ops.release.host import CURRENT

from .conftest import deploy, wait_until

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("platform")]
UAI = "0820021C"  # seed_demo's Collège Jean Moulin
MAIL_TIMEOUT = 90  # Alertmanager's group_wait (5 s in the lab) + its retries

# Run by the app user on an app host: a member of the establishment gets an address, the
# establishment opts in to e-mails, a notification is held by quiet hours (created "last
# Saturday night"), quiet hours are then turned off and the app's command delivers it (and
# e-mails it). What was changed is put back, whatever happens.
SCRIPT = """
import json
from datetime import datetime, timedelta
from django.core.management import call_command
from django.utils import timezone
from preau.core.models import Establishment, Membership
from preau.ent.notify import notify

est = Establishment.objects.get(uai=UAI)
user = Membership.objects.current().filter(establishment=est, user__is_active=True).first().user
saved = (dict(est.settings or {}), user.email, user.email_notifications)
try:
    user.email, user.email_notifications = ADDRESS, True
    user.save(update_fields=["email", "email_notifications"])
    est.settings = {**saved[0], "email_notifications": True, "quiet_hours": {"enabled": True}}
    est.save(update_fields=["settings"])
    saturday = timezone.localtime() - timedelta(days=(timezone.localtime().weekday() - 5) % 7 + 7)
    night = saturday.replace(hour=23, minute=0)
    notify(est, [user.pk], TEXT, now=night)
    est.settings = {**est.settings, "quiet_hours": {"enabled": False}}
    est.save(update_fields=["settings"])
    call_command("deliver_notifications")
finally:
    est.settings = saved[0]
    est.save(update_fields=["settings"])
    user.email, user.email_notifications = saved[1], saved[2]
    user.save(update_fields=["email", "email_notifications"])
print(json.dumps({"user": user.username}))
"""


@pytest.fixture(scope="module")
def demo(lab):
    deploy("release", timeout=1200)  # the app is there, whatever ran before
    answer = procedures.app_manage(lab, "seed_demo")
    assert UAI in {e["uai"] for e in answer["establishments"]}
    assert relay.running(), "the lab's SMTP relay is not running (`./deploy.py lab up` starts it)"
    return lab


def _app_email(lab, marker: str) -> None:
    script = (
        SCRIPT.replace("UAI", repr(UAI), 1)
        .replace("ADDRESS", repr(f"eleve.{marker}@preau.test"))
        .replace("TEXT", repr(f"Essai de messagerie {marker}"))
    )
    app = lab.hosts_in("app")[0]
    command = (
        "cd /tmp && sudo -u preau env PREAU_METRICS_MULTIPROC_DIR= "
        f"{CURRENT}/venv/bin/preau-manage shell -c {shlex.quote(script)}"
    )
    with runner.FabricSession(app, lab) as session:
        result = session.run(app, command, check=False, timeout=120)
    assert result.ok, result.stderr[-2000:]


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


def _delivered(marker: str) -> list[EmailMessage]:
    """The relay's messages about this run (subject, headers or body, decoded)."""
    found = []
    for raw in relay.messages():
        message = email.message_from_string(raw, policy=email.policy.default)
        body = message.get_body(("plain", "html"))
        text = f"{message['Subject']} {message['To']} {body.get_content() if body else ''}"
        if marker in text:
            found.append(message)
    return found


def test_app_and_alertmanager_mail_through_the_declared_relay(demo):
    marker = f"test80-{uuid.uuid4().hex[:10]}"
    started = time.monotonic()
    _test_alert(demo, marker)  # first: its group_wait runs while the app mails
    _app_email(demo, marker)

    def both() -> bool:
        return len(_delivered(marker)) >= 2

    wait_until(both, MAIL_TIMEOUT, lambda: f"the relay delivered {len(_delivered(marker))} of 2")
    took = time.monotonic() - started
    by_subject = {str(m["Subject"]): m for m in _delivered(marker)}
    app_mail = next(m for s, m in by_subject.items() if s.startswith("[Préau] Essai de messagerie"))
    alert_mail = next(m for s, m in by_subject.items() if "[critical] PreauMailTest" in s)
    assert app_mail["To"] == f"eleve.{marker}@preau.test"
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
