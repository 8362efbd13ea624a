from pathlib import Path

from django.conf import settings

from preau.core.management.base import OpsCommand, OpsError, get_establishment, operator


class Command(OpsCommand):
    help = (
        "Activation letters (PDF, one A4 page per account) for a class's pupils (--class), "
        "their parents (--class and --profile parents) or a whole profile (--profile): the "
        "accounts not yet activated and never logged in through an IdP enabled now (how many were "
        "left out so is said). The same batch as the "
        "directory's page makes (preau.ent.letters), listed there; its codes are issued now."
    )

    def add_arguments(self, parser):
        parser.add_argument("uai")
        parser.add_argument("--class", dest="class_name", default="", metavar="CLASSE")
        parser.add_argument(
            "--profile",
            default="",
            help="eleves, parents, enseignants, direction, vie-scolaire, personnels",
        )
        parser.add_argument("--output", required=True, metavar="FILE", help="the PDF written")
        parser.add_argument(
            "--site-url",
            default="",
            help="the site's address printed on the letters (default: [email] site_url)",
        )

    def run(self, uai, class_name="", profile="", output="", site_url="", dry_run=False, **_):
        from preau.ent import letters
        from preau.ent.files import chunks

        est = get_establishment(uai)
        site = site_url or settings.PREAU_SITE_URL
        if not site:
            raise OpsError(
                "adresse du site inconnue : --site-url https://… ou [email] site_url dans preau.toml"
            )
        target = Path(output)
        if not target.parent.is_dir():
            raise OpsError(f"dossier {target.parent} introuvable : rien n'a été créé")
        try:
            if dry_run:
                members = letters.eligible(est, class_name=class_name, profile=profile)
                return {
                    "uai": est.uai,
                    "dry_run": True,
                    "letters": members.count(),
                    "federated_left_out": letters.left_out(
                        est, class_name=class_name, profile=profile
                    ),
                    "output": "",
                }
            batch = letters.create_batch(
                est,
                class_name=class_name,
                profile=profile,
                by=operator(),
                site_url=site,
                background=False,
            )
        except letters.LettersError as refusal:
            raise OpsError(str(refusal)) from None
        letters.make(batch.pk)  # the job's own work, here and now
        batch.refresh_from_db()
        if batch.file is not None:
            with open(target, "wb") as out:
                for piece in chunks(batch.file):
                    out.write(piece)
        return {
            "uai": est.uai,
            "dry_run": False,
            "batch": batch.pk,
            "letters": batch.letters,
            "federated_left_out": batch.federated_left_out,
            "expires_at": batch.expires_at,
            "output": str(target) if batch.file is not None else "",
        }

    def render(self, r):
        from preau.ent.letters import LEFT_OUT

        if r["dry_run"]:
            line = (
                f"{r['letters']} lettre(s) à faire pour {r['uai']} (SIMULATION : aucun code créé)"
            )
        else:
            line = (
                f"{r['letters']} lettre(s) d'activation pour {r['uai']} : "
                f"{r['output'] or 'aucun fichier'}"
            )
        left_out = r["federated_left_out"]
        return line + (f"\n{LEFT_OUT.format(n=left_out)}" if left_out else "")
