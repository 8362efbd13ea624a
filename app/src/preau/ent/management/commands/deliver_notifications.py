from preau.core.management.base import OpsCommand
from preau.ent.notify import deliver_all


class Command(OpsCommand):
    help = (
        "Deliver the notifications held during quiet hours whose quiet period is over, after "
        "the services' periodic jobs (the roll call reminders). The queue's workers run it "
        "every 5 minutes (preau.jobs.tasks); by hand it is harmless (idempotent, and a "
        "notification is delivered once even with the workers running it meanwhile)."
    )

    def run(self, dry_run=False, **_):
        return deliver_all(dry_run)

    def render(self, r):
        return f"{r['delivered']} notification(s) " + (
            "à remettre (SIMULATION)" if r["dry_run"] else "remise(s)"
        )
