"""FED-01/FED-02's judgements, with real certificates (cryptography) and the metadata as the app
publishes it; the hosts faked (the lab runs them on real ones)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from preau_ops import pki
from preau_ops.audit.controls import federation
from preau_ops.inventory import Host


@pytest.fixture(scope="module")
def pairs() -> list[pki.Pair]:
    """The current pair (the CA's), the next one, one 10 days from its end."""
    ca = pki.new_ca("audit")
    return [
        pki.new_saml_pair("one", ca),
        pki.new_saml_pair("two"),
        pki.new_saml_pair("end", days=10),
    ]


def vault(signing: str, *published: str) -> dict[str, Any]:
    return {pki.SAML_CERT: signing, pki.SAML_PUBLISHED: list(published)}


def test_fed01_passes_the_vaults_certificates_far_from_their_end(pairs: list[pki.Pair]) -> None:
    current, following = pairs[0][0], pairs[1][0]
    assert federation.certificate_problems(current, "", vault(current)) == []
    during = vault(current, following)
    assert federation.certificate_problems(current, following, during) == []


def test_fed01_names_an_expiring_or_foreign_or_missing_certificate(pairs: list[pki.Pair]) -> None:
    current, following, ending = (p[0] for p in pairs)
    [expiring] = federation.certificate_problems(ending, "", vault(ending))
    assert "expires in 9 days, fewer than 60" in expiring and "saml-rotate publish" in expiring
    stale = federation.certificate_problems(current, "", vault(current, following))
    assert stale == [
        "the deployed certificates are not the vault's (vault_saml_signing_cert, "
        "vault_saml_published_certs): converge, or finish `deploy.py pki saml-rotate`"
    ]
    assert federation.certificate_problems("", "", vault(current)) == [
        "no signing certificate deployed: converge the app hosts (role app)"
    ]


def test_the_inventorys_own_certificate_wins_over_the_vaults(pairs: list[pki.Pair]) -> None:
    own = {"app_federation_signing_cert": pairs[1][0], pki.SAML_CERT: pairs[0][0]}
    assert federation.declared_pair(own)[pki.SAML_CERT] == pairs[1][0]
    assert federation.declared_pair({pki.SAML_CERT: pairs[0][0]})[pki.SAML_CERT] == pairs[0][0]


def metadata(*certs: str) -> str:
    """Our metadata as pysaml2's entity_descriptor writes it (ns0/ns1 prefixes, one signing
    KeyDescriptor per certificate)."""
    keys = "".join(
        '<ns0:KeyDescriptor use="signing"><ns1:KeyInfo><ns1:X509Data><ns1:X509Certificate>'
        + "".join(cert.strip().splitlines()[1:-1])
        + "</ns1:X509Certificate></ns1:X509Data></ns1:KeyInfo></ns0:KeyDescriptor>"
        for cert in certs
    )
    return (
        '<ns0:EntityDescriptor xmlns:ns0="urn:oasis:names:tc:SAML:2.0:metadata" '
        'xmlns:ns1="http://www.w3.org/2000/09/xmldsig#" entityID="https://ent/"><ns0:IDPSSODescriptor>'
        f"{keys}</ns0:IDPSSODescriptor></ns0:EntityDescriptor>"
    )


class FakeRemote:
    """An app host: its deployed certificate files and what its app answers on loopback."""

    def __init__(self, files: dict[str, str], pages: dict[str, str]):
        self.files, self.pages = files, pages
        self.commands: list[str] = []

    def read(self, path: str) -> str:
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path]

    def stat(self, path: str) -> str:
        return "640 root:preau"

    def run(self, command: str) -> SimpleNamespace:
        self.commands.append(command)
        if command.startswith("cat "):
            return SimpleNamespace(stdout=self.files.get("published", ""), rc=0)
        page = next((body for path, body in self.pages.items() if path in command), "")
        return SimpleNamespace(stdout=page, rc=0)


GAR = {"idp_entity_id": "https://ent/gar", "sp_metadata": "<x/>", "ent_id": "E"}


def signing_file(cert: str) -> str:
    """Where role app puts the signing certificate: named after it (pki.saml_file_id)."""
    return f"/etc/preau/saml/signing-{pki.saml_file_id(cert)}.crt"


def app_host(**extra: Any) -> Host:
    variables = {
        "preau_domain": "ent.example.fr",
        "app_federation_enabled": True,
        "app_federation_agents": {"entity_id": "https://agents", "metadata": "<x/>"},
        "app_federation_gar": GAR,
        **extra,
    }
    return Host("app1", ["app"], variables)


def run_fed02(remote: FakeRemote, host: Host) -> list[str]:
    """FED-02 on the fake host; the evidence it gave."""
    seen: list[str] = []
    federation.test_published_metadata(host, remote, seen.append)  # type: ignore[arg-type]
    return seen


def test_fed02_reads_both_metadata_on_loopback_and_passes_when_they_carry_the_deployed(
    pairs: list[pki.Pair],
) -> None:
    current, following = pairs[0][0], pairs[1][0]
    files = {signing_file(current): current, "published": following}
    both = metadata(current, following)
    pages = {"/federation/metadonnees/": both, "/federation/gar/metadonnees/": both}
    remote = FakeRemote(files, pages)
    seen = run_fed02(remote, app_host(**{pki.SAML_CERT: current}))
    assert seen == [
        "/federation/metadonnees/: as deployed",
        "/federation/gar/metadonnees/: as deployed",
    ]
    curls = [c for c in remote.commands if c.startswith("curl")]
    assert all("--resolve app1:8000:127.0.0.1" in c and "Host: ent.example.fr" in c for c in curls)


def test_fed02_fails_on_metadata_behind_or_ahead_of_the_deployed_keys(
    pairs: list[pki.Pair],
) -> None:
    current, following = pairs[0][0], pairs[1][0]
    files = {signing_file(current): current, "published": following}
    pages = {
        "/federation/metadonnees/": metadata(current),  # the app not restarted since publish
        "/federation/gar/metadonnees/": metadata(current, following, pairs[2][0]),
    }
    with pytest.raises(AssertionError) as failed:
        run_fed02(FakeRemote(files, pages), app_host(**{pki.SAML_CERT: current}))
    assert str(failed.value) == (
        "/federation/metadonnees/: lacks 1 deployed certificate(s); "
        "/federation/gar/metadonnees/: publishes 1 certificate(s) not deployed"
    )


def test_fed02_skips_a_host_without_federation() -> None:
    with pytest.raises(pytest.skip.Exception, match="federation is off"):
        run_fed02(FakeRemote({}, {}), Host("app1", ["app"], {}))
