from preau.core.management.commands.import_aaf import Command as AafCommand


class Command(AafCommand):
    help = (
        "Import complete CSV files (columns profil;identifiant;nom;prenom;date_naissance;"
        "classe;groupes;responsables;email;ine) for one establishment."
    )
    kind = "csv"
