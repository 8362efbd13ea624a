"""IdP metadata published at a URL: used only once its signature checks with the configured
certificate (preau.federation.metadata); a refused one leaves the previous file in use."""

from pathlib import Path

import pytest
from saml2.metadata import create_metadata_string

from preau.federation import metadata
from tests.federation.idp import IdP, keypair
from tests.federation.test_saml import idps  # noqa: F401 (fixture)

URL = "https://idp.test/educonnect/metadata"


def signed(idp: IdP) -> bytes:
    xml = create_metadata_string(None, config=idp.config, sign=True)
    return xml if isinstance(xml, bytes) else xml.encode()


@pytest.fixture
def published(idps, settings):  # noqa: F811
    idp = idps["educonnect"]
    settings.PREAU_FEDERATION = {
        **settings.PREAU_FEDERATION,
        "educonnect_metadata_url": URL,
        "educonnect_metadata_cert": idp.cert,
    }
    return idp


def test_signed_metadata_replaces_the_file(published, settings):
    body = signed(published)
    path = Path(settings.PREAU_FEDERATION["educonnect_metadata"])
    assert metadata.refresh("educonnect", get=lambda url: body) == "updated"
    assert path.read_bytes() == body
    assert metadata.refresh("educonnect", get=lambda url: body) == "unchanged"


def test_metadata_signed_by_another_key_is_refused_and_the_file_kept(published, settings, tmp_path):
    path = Path(settings.PREAU_FEDERATION["educonnect_metadata"])
    before = path.read_bytes()
    forger = IdP(tmp_path, "educonnect", keys=keypair(tmp_path, "forger"))
    with pytest.raises(metadata.MetadataError, match="signature"):
        metadata.refresh("educonnect", get=lambda url: signed(forger))
    tampered = signed(published).replace(b"/sso", b"/xxx")
    with pytest.raises(metadata.MetadataError, match="signature"):
        metadata.refresh("educonnect", get=lambda url: tampered)
    assert path.read_bytes() == before
