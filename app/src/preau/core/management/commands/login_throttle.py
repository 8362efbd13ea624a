from django.db import transaction

from preau.core import throttle
from preau.core.management.base import OpsCommand, OpsError


class Command(OpsCommand):
    help = (
        "Login throttling of an address (IPv6: its /64): its recent failures and wait, or "
        "--forgive them (a collège slowed by one pupil's spraying, once dealt with)."
    )

    def add_arguments(self, parser):
        parser.add_argument("address", help="client address, as the app sees it")
        parser.add_argument("--forgive", action="store_true", help="forget its recent failures")

    def run(self, address, forgive=False, dry_run=False, **_):
        try:
            with transaction.atomic():
                forgotten = throttle.forgive(address) if forgive else 0
                result = {**throttle.state(address), "forgiven": forgotten, "dry_run": dry_run}
                if dry_run:
                    transaction.set_rollback(True)
        except ValueError as error:
            raise OpsError(str(error)) from None
        return result

    def render(self, r):
        dry = " (SIMULATION)" if r["dry_run"] else ""
        lines = [
            f"{r['prefix']} : {r['failures']} échec(s) récent(s), attente {r['retry_after']} s{dry}"
        ]
        if r["forgiven"]:
            lines.append(f"{r['forgiven']} échec(s) oublié(s)")
        return "\n".join(lines)
