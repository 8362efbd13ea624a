from django.apps import apps

from preau.core.management.base import OpsCommand
from preau.ent import notify
from preau.ent.apps import SERVICE_APPS
from preau.ent.notify import deliver_due


def periodic_jobs(dry_run: bool) -> dict:
    """The services' jobs that ride on this timer (an app config's `periodic`: the vie
    scolaire's roll call reminders), run before the delivery; their counts by name."""
    report: dict = {}
    for label in SERVICE_APPS:
        job = getattr(apps.get_app_config(label), "periodic", None)
        if job is not None:
            report.update(job(notify._now(), dry_run=dry_run))
    return report


class Command(OpsCommand):
    help = (
        "Deliver the notifications held during quiet hours whose quiet period is over, after "
        "the services' periodic jobs (the roll call reminders). Run it every few minutes "
        "(timer); it is idempotent."
    )

    def run(self, dry_run=False, **_):
        jobs = periodic_jobs(dry_run)
        return {"dry_run": dry_run, **jobs, "delivered": deliver_due(dry_run=dry_run)}

    def render(self, r):
        return f"{r['delivered']} notification(s) " + (
            "à remettre (SIMULATION)" if r["dry_run"] else "remise(s)"
        )
