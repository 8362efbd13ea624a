from preau.core.management.base import OpsCommand
from preau.ent.notify import deliver_due


class Command(OpsCommand):
    help = (
        "Deliver the notifications held during quiet hours whose quiet period is over. "
        "Run it every few minutes (timer); it is idempotent."
    )

    def run(self, dry_run=False, **_):
        return {"dry_run": dry_run, "delivered": deliver_due(dry_run=dry_run)}

    def render(self, r):
        return f"{r['delivered']} notification(s) " + (
            "à remettre (SIMULATION)" if r["dry_run"] else "remise(s)"
        )
