from preau.timetable.management.commands import import_timetable


class Command(import_timetable.Command):
    """import_timetable with the format fixed: the same run, report, refusal and output."""

    help = (
        "Import SIECLE's pupils export (ElevesSansAdresses.xml, zipped or not) into one "
        "establishment, as the import page's job does: each pupil, matched by INE, gets their "
        "identifiant Base Élèves (which the LSU export needs); all or nothing, every refused line "
        "reported."
    )

    def add_arguments(self, parser):
        parser.add_argument("uai")
        parser.add_argument("file")

    def run(self, uai, file, dry_run=False, **options):
        return super().run(uai, file, format="bee", dry_run=dry_run, **options)
