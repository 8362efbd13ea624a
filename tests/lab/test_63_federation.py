"""Federation's keys on real hosts (issue #20 item 6): the role deploys the platform's SAML
signing pair from the vault and the GAR's SP metadata; the GAR IdP's metadata, through the lb,
carries exactly the vault's certificate; a key rotation under load (a drill) publishes two
certificates, switches, retires the old one, and fails no request. FED-01/02 run in the full
audit (test_60)."""

from __future__ import annotations

import pytest

from preau_ops import inventory, pki
from preau_ops.paths import STATE_DIR

from .conftest import deploy, failures, run_audit
from .loadgen import Client, Load

CA = str(STATE_DIR / "ca" / "ca.crt")
GAR_METADATA = "/federation/gar/metadonnees/"


def _published(lab) -> set[str]:
    """The certificates (base64 bodies) in the GAR IdP's metadata, read through the lb."""
    answer = Client(lab.hosts_in("lb")[0], CA).request("GET", GAR_METADATA)
    assert answer.status == 200, f"{GAR_METADATA}: {answer.status}"
    return pki.metadata_certificates(answer.data.decode())


def _vault(lab) -> dict:
    return pki.Vault.of(inventory.load(None)).read()


def test_the_gar_idp_publishes_the_vaults_signing_certificate(lab):
    assert _published(lab) == pki.saml_published(_vault(lab)) != set()


@pytest.mark.drill
def test_a_signing_key_rotation_under_load_fails_no_request(lab):
    before = pki.cert_bodies(_vault(lab)[pki.SAML_CERT])
    lb = lab.hosts_in("lb")[0]
    with Load(lb.address, lb.vars["preau_domain"], CA, path=GAR_METADATA, workers=2) as load:
        deploy("pki", "saml-rotate", "publish", "--min-hours", "0")
        published = _published(lab)
        assert len(published) == 2 and before < published
        deploy("pki", "saml-rotate", "switch", "--min-hours", "0")
        signing = pki.cert_bodies(_vault(lab)[pki.SAML_CERT])
        assert signing != before and _published(lab) == published
        deploy("pki", "saml-rotate", "retire", "--min-hours", "0")
        assert _published(lab) == signing
    assert load.failed == 0, dict(load.counts)
    assert load.total > 0
    code, data = run_audit("fed-after-rotation", "--control", "FED")
    assert code == 0 and not failures(data), failures(data)
