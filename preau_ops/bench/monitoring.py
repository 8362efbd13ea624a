"""The monitoring's own silence (issue #23 item 5): deadman_delay, the time from Prometheus
stopped on the monitoring host to the mail of the dead-man's switch (role monitoring, on the lb)
delivered by the lab's SMTP relay (preau_ops/lab/relay.py). Prometheus is started again
whatever happens. The lab test (tests/lab/test_80_mail.py) measures it the same way."""

from __future__ import annotations

import email
import email.policy
import time
from typing import TYPE_CHECKING

from ..errors import OpsError
from .core import Bench, Measure

if TYPE_CHECKING:
    from ..inventory import Inventory

SILENT, BACK = "silent", "back"  # the words of the switch's subjects
TIMEOUT = 900  # production's defaults: 4 min for the Watchdog to expire + 5 min of delay


def mails(word: str) -> int:
    """How many of the switch's mails (SILENT or BACK) the lab's relay delivered."""
    from ..lab import relay

    count = 0
    for raw in relay.messages():
        subject = str(email.message_from_string(raw, policy=email.policy.default)["Subject"])
        count += f"Monitoring {word} (Watchdog)" in subject
    return count


def prometheus(inv: Inventory, action: str) -> None:
    """systemctl ACTION prometheus on the monitoring host."""
    from ..runner import session

    monitoring = inv.hosts_in("monitoring")[0]
    with session(inv, [monitoring]) as sessions:
        sessions.run(monitoring, f"systemctl {action} prometheus.service")


def deadman_delay(inv: Inventory, timeout: float = TIMEOUT) -> float:
    """Seconds from Prometheus stopped to the switch's mail at the relay (Prometheus is
    started again before returning)."""
    before = mails(SILENT)
    prometheus(inv, "stop")
    stopped = time.monotonic()
    try:
        while mails(SILENT) == before:
            if time.monotonic() - stopped > timeout:
                raise OpsError(
                    f"no mail from the dead-man's switch {timeout:.0f} s after Prometheus stopped",
                    "is preau-deadman running on the lb (`systemctl status preau-deadman`)?",
                )
            time.sleep(2)
        return time.monotonic() - stopped
    finally:
        prometheus(inv, "start")


def _deadman(bench: Bench) -> str:
    return f"{deadman_delay(bench.inv):.0f}"


def measures(inv: Inventory) -> list[Measure]:
    return [
        Measure(
            "deadman_delay",
            "Prometheus stopped on the monitoring host until the dead-man's switch's mail (on "
            "the lb) is at the relay: the Watchdog's expiry in Alertmanager (4 resend delays) + "
            "monitoring_deadman_delay (s)",
            "≤ 4 × resend delay + delay + 30",
            probe=_deadman,
        )
    ]
