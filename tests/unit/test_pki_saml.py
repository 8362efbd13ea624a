"""The platform's SAML signing pair (issue #20 item 6): made in the vault, issued by the internal
CA when there is one, rotated in three phases in order (publish, switch, retire), each recorded
before its converge and resumed by running it again; the metadata check that follows each phase
and the audit (FED-02) share `metadata_problems`. The converge and the hosts are faked; the
real rotation runs on the lab."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from preau_ops import pki
from preau_ops.errors import OpsError

from .test_pki import FakeVault, apply

NOW = datetime.datetime(2026, 12, 6, 12, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def ca() -> pki.Pair:
    return pki.new_ca("test")


@pytest.fixture(scope="module")
def pairs(ca) -> list[pki.Pair]:
    """Two SAML pairs: the current one (issued by the CA), the next one (self-signed)."""
    return [pki.new_saml_pair("one", ca), pki.new_saml_pair("two")]


def test_the_pair_is_rsa_for_signing_and_issued_by_the_ca_when_there_is_one(ca, pairs):
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    cert = x509.load_pem_x509_certificate(pairs[0][0].encode())
    assert isinstance(cert.public_key(), rsa.RSAPublicKey) and cert.public_key().key_size == 3072
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    assert pki.describe(pairs[0][0], ca[0]).issued_by_ca
    self_signed = pki.describe(pairs[1][0], pairs[1][0])
    assert self_signed.issued_by_ca and self_signed.days_left() >= pki.SAML_DAYS - 1


def test_init_uses_the_vaults_ca_and_refuses_to_replace_a_pair(ca, pairs):
    issuers = []

    def make(label, issuer):
        issuers.append(issuer)
        return pairs[0]

    made = pki.saml_init_updates({pki.CA_CERT: ca[0], pki.CA_KEY: ca[1]}, "prod", make)
    assert made == {pki.SAML_CERT: pairs[0][0], pki.SAML_KEY: pairs[0][1]}
    pki.saml_init_updates({pki.CA_CERT: "CHANGE-ME-run-deploy.py-pki-init"}, "prod", make)
    assert issuers == [ca, None]  # no real CA in the vault: self-signed
    with pytest.raises(OpsError, match="already holds a SAML signing pair") as refused:
        pki.saml_init_updates({pki.SAML_CERT: pairs[0][0]}, "prod", make)
    assert "saml-rotate publish" in str(refused.value.hint)


def step(data, wanted, new, hours_later=48.0):
    """One phase started `hours_later` after the previous one: the vault as it becomes."""
    now = NOW + datetime.timedelta(hours=hours_later)
    return apply(data, pki.saml_step(data, wanted, lambda: new, now, min_hours=24))


def test_a_rotation_publishes_switches_then_retires_with_two_certificates_in_between(pairs):
    old, new = pairs
    data: dict[str, Any] = {pki.SAML_CERT: old[0], pki.SAML_KEY: old[1]}
    seen = []
    for days, phase in enumerate(pki.SAML_PHASES):
        data = step(data, phase, new, hours_later=24.0 * days)
        seen.append((phase, data[pki.SAML_KEY] == new[1], pki.saml_published(data)))
    both = pki.cert_bodies(old[0] + new[0])
    assert seen == [
        ("publish", False, both),  # the current key signs, the next certificate published
        ("switch", True, both),  # the next key signs, the old certificate still published
        ("retire", True, pki.cert_bodies(new[0])),
    ]
    assert pki.saml_pending(data) == "retire"  # saml_rotate removes the record after its check


@pytest.mark.parametrize(
    ("recorded", "wanted", "message", "hint"),
    [
        (None, "switch", "phase switch out of order: no rotation is under way", "publish"),
        (None, "retire", "phase retire out of order: no rotation is under way", "publish"),
        ("publish", "retire", "out of order: the rotation is at publish", "switch"),
        ("switch", "publish", "out of order: the rotation is at switch", "retire"),
        ("retire", "publish", "out of order: the rotation is at retire", "retire"),
    ],
)
def test_a_phase_out_of_order_is_refused_with_the_one_to_run(
    pairs, recorded, wanted, message, hint
):
    data: dict[str, Any] = {pki.SAML_CERT: pairs[0][0], pki.SAML_KEY: pairs[0][1]}
    if recorded:
        data[pki.SAML_ROTATION] = {"phase": recorded, "since": NOW.isoformat()}
    with pytest.raises(OpsError, match=message) as refused:
        pki.saml_step(data, wanted, lambda: pairs[1], NOW, min_hours=0)
    assert f"saml-rotate {hint}`" in str(refused.value.hint)


def test_the_partners_get_their_time_between_phases(pairs):
    data = step({pki.SAML_CERT: pairs[0][0], pki.SAML_KEY: pairs[0][1]}, "publish", pairs[1], 0)
    with pytest.raises(OpsError, match="phase publish ran 2.0 h ago, fewer than 24 h") as early:
        step(data, "switch", pairs[1], hours_later=2)
    assert "--min-hours 2" in str(early.value.hint)
    now = NOW + datetime.timedelta(hours=2)
    assert pki.saml_step(data, "switch", print, now, min_hours=2)[pki.SAML_KEY] == pairs[1][1]


def test_rotation_needs_a_pair_and_knows_its_phases(pairs):
    with pytest.raises(OpsError, match="no SAML signing pair") as refused:
        pki.saml_step({}, "publish", lambda: pairs[1], NOW)
    assert "saml-init" in str(refused.value.hint)
    broken = {pki.SAML_CERT: pairs[0][0], pki.SAML_ROTATION: {"phase": "later"}}
    with pytest.raises(OpsError, match="unknown phase 'later'"):
        pki.saml_step(broken, "switch", lambda: pairs[1], NOW)


def test_a_failed_converge_is_resumed_by_the_same_phase_and_retire_clears_the_record(
    pairs, monkeypatch
):
    old, new = pairs
    monkeypatch.setattr(pki, "new_saml_pair", lambda label, issuer: new)
    vault = FakeVault({pki.SAML_CERT: old[0], pki.SAML_KEY: old[1]})
    checked: list[set[str]] = []

    def check(data):
        checked.append(pki.saml_published(data))

    def unreachable():
        raise OpsError("app1 unreachable")

    with pytest.raises(OpsError, match="unreachable"):
        pki.saml_rotate(vault, "publish", unreachable, check, min_hours=0)
    assert pki.saml_pending(vault.data) == "publish" and checked == []
    assert pki.saml_rotate(vault, "publish", lambda: None, check, min_hours=0) == "resumed"
    assert pki.saml_rotate(vault, "switch", lambda: None, check, min_hours=0) == "started"
    assert pki.saml_rotate(vault, "retire", lambda: None, check, min_hours=0) == "started"
    both, new_only = pki.cert_bodies(old[0] + new[0]), pki.cert_bodies(new[0])
    assert checked == [both, both, new_only]
    assert vault.data == {pki.SAML_CERT: new[0], pki.SAML_KEY: new[1]}


def metadata(*certs: str, use: str | None = "signing") -> str:
    """SAML metadata as pysaml2 writes ours: one KeyDescriptor per certificate."""
    attribute = f' use="{use}"' if use else ""
    descriptors = "".join(
        f"<md:KeyDescriptor{attribute}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>\n{body}\n"
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        for cert in certs
        for body in ["\n".join(cert.strip().splitlines()[1:-1])]
    )
    return (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://ent/">'
        f"<md:IDPSSODescriptor>{descriptors}</md:IDPSSODescriptor></md:EntityDescriptor>"
    )


def test_the_metadata_check_names_a_missing_or_a_stray_certificate(pairs):
    old, new = pairs
    expected = pki.cert_bodies(old[0] + new[0])
    assert pki.metadata_problems("app1 /m", metadata(old[0], new[0]), expected) == []
    assert pki.metadata_problems("app1 /m", metadata(old[0], new[0], use=None), expected) == []
    assert pki.metadata_problems("app1 /m", metadata(old[0]), expected) == [
        "app1 /m: lacks 1 deployed certificate(s)"
    ]
    assert pki.metadata_problems(
        "app1 /m", metadata(old[0], new[0]), {*expected} - {next(iter(pki.cert_bodies(new[0])))}
    ) == ["app1 /m: publishes 1 certificate(s) not deployed"]
    assert pki.metadata_problems("app1 /m", metadata(new[0], use="encryption"), expected) == [
        "app1 /m: lacks 2 deployed certificate(s)"
    ]
    assert pki.metadata_problems("app1 /m", "<html>503", expected) == [
        "app1 /m: not SAML metadata (ParseError)"
    ]


def test_which_metadata_an_app_host_publishes_follows_its_variables():
    def var_of(values):
        return lambda name, default=None: values.get(name, default)

    assert pki.saml_metadata_paths(var_of({})) == []
    on = {"app_federation_enabled": True, "app_federation_sp_entity_id": "https://ent/sp"}
    assert pki.saml_metadata_paths(var_of(on)) == []  # the SP serves metadata with an IdP only
    on["app_federation_agents"] = {"entity_id": "https://idp"}
    assert pki.saml_metadata_paths(var_of(on)) == ["/federation/metadonnees/"]
    on["app_federation_gar"] = {"idp_entity_id": "https://ent/gar"}
    assert pki.saml_metadata_paths(var_of(on)) == [
        "/federation/metadonnees/",
        "/federation/gar/metadonnees/",
    ]


def test_the_verbs_create_the_pair_once_and_refuse_a_phase_out_of_order(prod, ca, capsys):
    """`deploy.py pki saml-init` then `saml-rotate switch` on an inventory: the pair is
    written in the encrypted vault, issued by its CA; a second init and a switch before any
    publish are refused with what to run, the vault left as it was (nothing converged)."""
    from preau_ops import commands, inventory

    vault = pki.Vault.of(inventory.load(str(prod)))
    vault.update({pki.CA_CERT: ca[0], pki.CA_KEY: ca[1]})
    assert commands.main(["pki", "saml-init", "-i", str(prod)]) == 0
    made = vault.read()
    assert pki.describe(made[pki.SAML_CERT], ca[0]).issued_by_ca
    assert "PRIVATE KEY" in made[pki.SAML_KEY]
    capsys.readouterr()
    assert commands.main(["pki", "saml-init", "-i", str(prod)]) == 1
    assert "already holds a SAML signing pair" in capsys.readouterr().out
    assert commands.main(["pki", "saml-rotate", "switch", "-i", str(prod)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "phase switch out of order: no rotation is under way" in out
    assert "deploy.py pki saml-rotate publish" in out
    assert vault.read() == made
