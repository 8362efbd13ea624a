import json
from pathlib import Path

from preau.core import rentree
from preau.core.management.base import OpsCommand, OpsError


class Command(OpsCommand):
    help = (
        "School year change (rentrée): the previous year's classes and groups become read-only "
        "and the platform's school year moves on; with --aaf-dir, each establishment's complete "
        "AAF files of the new year (DIR/<UAI>/*.xml) are imported in the same transaction and "
        "the report says, per establishment, the classes closed, the pupils moved, the members "
        "leaving (accounts to purge, with their dates), the parents left without a child and "
        "the surprises. Rehearse it on a copy of the database (or with --dry-run): the real run "
        "prints the same report."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--year", type=int, help="new school year (default: current + 1), e.g. 2027 for 2027-28"
        )
        parser.add_argument(
            "--aaf-dir",
            default="",
            metavar="DIR",
            help="the new year's complete AAF files, one directory per establishment (its UAI)",
        )
        parser.add_argument(
            "--report", default="", metavar="FILE", help="also write the report (JSON) to FILE"
        )

    def run(self, year=None, aaf_dir="", report="", dry_run=False, **_):
        target = Path(report) if report else None
        if target is not None and not target.parent.is_dir():
            raise OpsError(f"dossier {target.parent} introuvable : rien n'a été modifié")
        try:
            result = rentree.change(year, aaf_dir=aaf_dir, dry_run=dry_run)
        except rentree.RentreeError as exc:
            errors = [
                e
                if isinstance(e, str)
                else ({"uai": e[0], **e[1].as_dict()} if self.as_json else f"{e[0]} · {e[1]}")
                for e in exc.errors
            ]
            raise OpsError(str(exc), errors) from None
        if target is not None:
            target.write_text(
                json.dumps({"ok": True, **result}, ensure_ascii=False, indent=2, default=str),
                encoding="utf-8",
            )
        return result

    def render(self, r):
        return rentree.render(r)
