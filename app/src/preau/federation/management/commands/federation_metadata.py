from preau.core.management.base import OpsCommand, OpsError
from preau.federation import metadata, saml


class Command(OpsCommand):
    help = (
        "The IdPs' metadata published at a URL ([federation] <idp>_metadata_url): `refresh` "
        "fetches it, checks its signature (<idp>_metadata_cert), and replaces the local file."
    )
    changes_data = False

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["refresh"])

    def run(self, action, **_):
        result, errors = {}, []
        for key in saml.IDPS:
            try:
                result[key] = metadata.refresh(key)
            except metadata.MetadataError as exc:
                result[key] = "refused"
                errors.append(str(exc))
        if errors:
            raise OpsError("métadonnées refusées, les fichiers précédents restent", errors, result)
        return result

    def render(self, r):
        return "Métadonnées : " + ", ".join(f"{key} {state}" for key, state in r.items())
