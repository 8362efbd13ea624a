"""The lab's federation partners, without Docker: the declaration `lab up` writes (each IdP's
metadata, from idp.py itself, carrying the key kept for the lab), the accounts given from the
demo's identities, and the container's start command. tests/lab/test_63_federation.py logs in
through the running ones."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import pytest
import yaml

from preau_ops.lab import partners, standin

MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"

IDENTITIES = {
    "pupil": {"username": "arthur.masson", "ine": "8200210016Q", "name": "Arthur MASSON"},
    "parent": {
        "username": "anne.roche",
        "join_key": "382002100030",
        "children": [
            {"username": "arthur.masson", "ine": "8200210016Q", "name": "Arthur MASSON"},
            {"username": "lola.roche", "ine": "8200210015P", "name": "Lola ROCHE"},
        ],
    },
    "teacher": {"username": "celine.garnier", "join_key": "582002100004"},
}


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setattr(partners, "STATE", tmp_path / "partners")
    monkeypatch.setattr(partners, "DECLARATION", tmp_path / "partners.yml")
    monkeypatch.setattr(partners, "address", lambda: "172.30.82.251")
    return tmp_path


def _certificate_body(pem: str) -> str:
    return "".join(line for line in pem.strip().splitlines() if "-----" not in line)


def test_the_declaration_trusts_each_idp_by_the_key_kept_for_the_lab(state):
    assert partners.declare() == "172.30.82.251"
    declared = yaml.safe_load((state / "partners.yml").read_text())
    assert set(declared) == {
        "app_federation_educonnect",
        "app_federation_agents",
        "app_federation_gar",
        "nginx_form_action_origins",
    }
    for idp in partners.IDPS:
        entry = declared[f"app_federation_{idp.key}"]
        assert entry["entity_id"] == f"https://172.30.82.251:{idp.port}"
        root = ET.fromstring(entry["metadata"])
        assert root.get("entityID") == entry["entity_id"]
        sso = root.find(f"{MD}IDPSSODescriptor/{MD}SingleSignOnService")
        assert sso is not None and sso.get("Location") == f"{entry['entity_id']}/sso"
        published = root.find(f".//{DS}X509Certificate")
        assert published is not None
        kept = (state / "partners" / f"{idp.key}.crt").read_text()
        assert published.text.strip() == _certificate_body(kept)
        assert oct((state / "partners" / f"{idp.key}.key").stat().st_mode & 0o777) == "0o600"
    # The GAR's stand-in: Préau's GAR IdP answers it, and its answer (a form posted to the
    # stand-in) is let through nginx's CSP.
    gar = declared["app_federation_gar"]
    assert gar["idp_entity_id"] == "https://{{ preau_domain }}/federation/gar/metadonnees/"
    assert gar["ent_id"] == partners.GAR_ENT_ID
    root = ET.fromstring(gar["sp_metadata"])
    assert root.get("entityID") == "https://172.30.82.251:8445"
    acs = root.find(f"{MD}SPSSODescriptor/{MD}AssertionConsumerService")
    assert acs is not None and acs.get("Location") == "https://172.30.82.251:8445/acs"
    published = root.find(f".//{DS}X509Certificate")
    kept = (state / "partners" / "gar.crt").read_text()
    assert published is not None and published.text.strip() == _certificate_body(kept)
    assert declared["nginx_form_action_origins"] == ["https://172.30.82.251:8445"]
    # A second `lab up` keeps the keys: the converged hosts' trust stays right.
    partners.declare()
    assert yaml.safe_load((state / "partners.yml").read_text()) == declared


def test_the_accounts_carry_the_feeds_identifiers_as_each_idp_names_them(state):
    accounts = partners.accounts(IDENTITIES)
    pupil = accounts["educonnect"]["eleve"]["attributes"]
    assert pupil == {"FrEduCtPersonAffiliation": ["eleve2d"], "FrEduCtEleveINE": ["8200210016Q"]}
    parent = accounts["educonnect"]["parent"]["attributes"]
    assert parent["FrEduCtPersonAffiliation"] == ["resp2d"]
    # {AAF}<académie>|<…>|<identifier>: the identifier is the feed's ENTPersonJointure
    assert parent["FrEduCtRefId"] == ["{AAF}16|1|382002100030"]
    assert parent["FrEduCtEleveINE"] == ["8200210016Q", "8200210015P"]
    unknown = accounts["educonnect"]["inconnu"]["attributes"]["FrEduCtEleveINE"]
    assert unknown == [partners.UNKNOWN_INE] and len(partners.UNKNOWN_INE) == 11
    assert accounts["agents"]["prof"]["attributes"] == {"ENTPersonJointure": ["582002100004"]}
    passwords = {a["password"] for idp in accounts.values() for a in idp.values()}
    assert passwords == {partners.password()} and len(partners.password()) >= 16
    subjects = [a["subject"] for idp in accounts.values() for a in idp.values()]
    assert len(subjects) == len(set(subjects))  # one persistent NameID per person


def test_up_refuses_a_demo_without_identities_before_touching_docker(state, monkeypatch):
    monkeypatch.setattr(standin, "docker", lambda *a, **k: pytest.fail("docker was called"))
    with pytest.raises(partners.OpsError, match="no federated identity"):
        partners.up(None, {})


def test_the_container_runs_both_idps_and_the_cas_resource_from_their_configs():
    script = partners._start_script()
    assert script.startswith("export PYTHONPATH=/opt/preau-partners ")  # python-cas's cas.py
    for idp in partners.IDPS:
        assert f"idp.py serve --config /etc/preau-partners/{idp.key}.json &" in script
    assert "gar_sp.py serve --config /etc/preau-partners/gar.json &" in script
    # The CAS resource is the container's main process (it ends with it).
    assert script.endswith(
        "exec python3 /opt/preau-partners/cas_client.py serve --config /etc/preau-partners/cas.json"
    )


def test_an_idp_config_names_files_in_the_container_and_a_cookie_of_its_own():
    configs = [partners.idp_config(idp, "172.30.82.251", {}) for idp in partners.IDPS]
    assert {c["cookie_name"] for c in configs} == {"idp_educonnect", "idp_agents"}
    for config in configs:
        assert config["key_file"].startswith(partners.CONFIG_DIR + "/")
        assert config["sp_metadata"] == f"{partners.CONFIG_DIR}/preau-sp.xml"
        assert config["base_url"].startswith("https://172.30.82.251:")
        json.dumps(config)  # idp.py reads it as JSON
