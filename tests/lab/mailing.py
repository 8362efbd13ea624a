"""What the lab tests that make the app e-mail share: a member of seed_demo's Collège Jean
Moulin gets an address and the establishment sends e-mails (until `restore`), a notification
is created for that member (held by quiet hours, or delivered at once: its e-mail is then a
job of the queue), and the messages the lab's SMTP relay delivered are read back.

The e-mail is a job that a worker of any app host sends later: the address and the
establishment's choice must stay until it is sent, hence `restore` once the test saw it."""

from __future__ import annotations

import email
import email.policy
import json
import shlex
from email.message import EmailMessage

from preau_ops import runner
from preau_ops.lab import relay
from preau_ops.release.host import manage_command

UAI = "0820021C"  # seed_demo's Collège Jean Moulin

# Run by the app user on an app host. ACTION: "hold" (a notification held by quiet hours,
# created "last Saturday night"; quiet hours are then turned off so that the next delivery
# sends it), "now" (delivered at once: its e-mail job is enqueued) or "restore" (SAVED, what
# the other two printed, is put back).
SCRIPT = """
import json
from datetime import timedelta
from django.utils import timezone
from preau.core.models import Establishment, Membership, User
from preau.ent.notify import notify

est = Establishment.objects.get(uai=UAI)
if ACTION == "restore":
    saved = SAVED
    user = User.objects.get(username=saved["user"])
    est.settings = saved["settings"]
else:
    members = Membership.objects.current().filter(establishment=est, user__is_active=True)
    user = members.order_by("user_id").first().user
    saved = {"user": user.username, "settings": dict(est.settings or {}),
             "email": user.email, "email_notifications": user.email_notifications}
    user.email, user.email_notifications = ADDRESS, True
    est.settings = {**saved["settings"], "email_notifications": True,
                    "quiet_hours": {"enabled": ACTION == "hold"}}
    est.save(update_fields=["settings"])
    user.save(update_fields=["email", "email_notifications"])
    night = None
    if ACTION == "hold":
        now = timezone.localtime()
        saturday = now - timedelta(days=(now.weekday() - 5) % 7 + 7)
        night = saturday.replace(hour=23, minute=0)
    notify(est, [user.pk], TEXT, now=night)
    est.settings = {**est.settings, "quiet_hours": {"enabled": False}}
est.save(update_fields=["settings"])
if ACTION == "restore":
    user.email, user.email_notifications = saved["email"], saved["email_notifications"]
    user.save(update_fields=["email", "email_notifications"])
print(json.dumps(saved))
"""


def address(marker: str) -> str:
    return f"eleve.{marker}@preau.test"


def subject(marker: str) -> str:
    return f"[Préau] Essai de messagerie {marker}"


def manage(lab, host, args: str, timeout: float = 120) -> str:
    """`preau-manage ARGS` as the app user on HOST; its stdout."""
    with runner.FabricSession(host, lab) as session:
        result = session.run(
            host, manage_command(args, as_json=False), check=False, timeout=timeout
        )
    name = args.split(maxsplit=1)[0]
    assert result.ok, f"preau-manage {name} on {host.name}: {result.stderr[-2000:]}"
    return result.stdout


def notify(lab, marker: str, action: str) -> dict:
    """A notification for this run's member (ACTION "hold" or "now"), on the first app host;
    what `restore` puts back."""
    script = (
        SCRIPT.replace("UAI", repr(UAI), 1)
        .replace("ACTION", repr(action))
        .replace("ADDRESS", repr(address(marker)))
        .replace("TEXT", repr(f"Essai de messagerie {marker}"))
        .replace("SAVED", "None")
    )
    out = manage(lab, lab.hosts_in("app")[0], f"shell -c {shlex.quote(script)}")
    return json.loads(out.strip().splitlines()[-1])


def restore(lab, saved: dict) -> None:
    script = (
        SCRIPT.replace("UAI", repr(UAI), 1)
        .replace("ACTION", repr("restore"))
        .replace("SAVED", repr(saved))
        .replace("ADDRESS", "None")
        .replace("TEXT", "None")
    )
    manage(lab, lab.hosts_in("app")[0], f"shell -c {shlex.quote(script)}")


def delivered(marker: str) -> list[EmailMessage]:
    """The relay's messages about this run (subject, headers or body, decoded)."""
    found = []
    for raw in relay.messages():
        message = email.message_from_string(raw, policy=email.policy.default)
        body = message.get_body(("plain", "html"))
        text = f"{message['Subject']} {message['To']} {body.get_content() if body else ''}"
        if marker in text:
            found.append(message)
    return found
