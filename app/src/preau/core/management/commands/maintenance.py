from django.db import transaction

from preau.core.management.base import OpsCommand, get_establishment
from preau.core.models import Platform


class Command(OpsCommand):
    help = "Switch maintenance mode on or off, for the whole platform or one establishment (--uai)."

    def add_arguments(self, parser):
        parser.add_argument("state", choices=["on", "off", "status"])
        parser.add_argument("--uai", help="only this establishment")
        parser.add_argument(
            "--message", default="", help="message shown on the 503 page (global only)"
        )

    def run(self, state, uai=None, message="", dry_run=False, **_):
        with transaction.atomic():
            if uai:
                est = get_establishment(uai)
                if state != "status":
                    est.maintenance = state == "on"
                    est.save(update_fields=["maintenance"])
                result = {"scope": est.uai, "maintenance": est.maintenance}
            else:
                platform = Platform.get()
                if state != "status":
                    platform.maintenance = state == "on"
                    platform.maintenance_message = message if state == "on" else ""
                    platform.save(update_fields=["maintenance", "maintenance_message"])
                result = {"scope": "global", "maintenance": platform.maintenance}
            result["dry_run"] = dry_run
            if dry_run:
                transaction.set_rollback(True)
        return result

    def render(self, result):
        scope = "plateforme" if result["scope"] == "global" else f"établissement {result['scope']}"
        dry = " (SIMULATION)" if result["dry_run"] else ""
        return f"Maintenance {scope} : {'ACTIVE' if result['maintenance'] else 'inactive'}{dry}"
