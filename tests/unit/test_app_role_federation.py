"""Role app's federation (issue #20 item 6), as Ansible renders it: off by default, preau.toml
exactly as before; on, a [federation] section the app's own configuration loader accepts,
naming the files the role's tasks write (the signing pair, the certificate a rotation publishes
beside it, the metadata files), and the service allowed to write the metadata directory."""

from __future__ import annotations

import tomllib

import pytest

from preau_ops import pki
from preau_ops.paths import ROLES

from .test_app_role_config import app_defaults
from .test_network import _plugins

APP = ROLES / "app"
HOST = {"preau_domain": "ent.example.fr", "ansible_host": "10.0.0.11"}
VAULT = {
    "vault_app_django_secret_key": "s" * 50,
    "vault_postgresql_app_password": "app",
    "vault_postgresql_owner_password": "owner",
}
IDP_XML = '<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp"/>'
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
NEXT = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n"
# The role names each file after its certificate as preau_ops.pki does (the audit's reading).
SIGNING = f"/etc/preau/saml/signing-{pki.saml_file_id(CERT)}"
PUBLISHED = f"/etc/preau/saml/published-{pki.saml_file_id(NEXT)}.crt"
ON = {
    "app_federation_enabled": True,
    "vault_saml_signing_cert": CERT,
    "vault_saml_signing_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
    "app_federation_educonnect": {"entity_id": "https://educonnect", "metadata": IDP_XML},
    "app_federation_agents": {
        "entity_id": "https://agents",
        "metadata": IDP_XML,
        "metadata_url": "https://agents/metadata.xml",
        "metadata_cert": CERT,
    },
    "app_federation_gar": {
        "idp_entity_id": "https://ent.example.fr/federation/gar/metadonnees/",
        "sp_metadata": IDP_XML,
        "ent_id": "ENT-PREAU",
    },
}


def render(template: str, **overrides) -> str:
    """A template of roles/app for host app1, with the role's defaults and vars."""
    from ansible.template import trust_as_template

    return templar(**overrides).template(
        trust_as_template((APP / "templates" / template).read_text())
    )


def templar(**overrides):
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    _plugins()
    loader = DataLoader()

    def load(name: str) -> dict:
        return loader.load_from_file(str(APP / name), trusted_as_template=True)

    variables = {
        **load("defaults/main.yml"),
        **VAULT,
        **HOST,
        **overrides,
        **load("vars/main.yml"),
        "groups": {"all": ["app1"], "app": ["app1"]},
        "group_names": ["app"],
        "hostvars": {"app1": {**HOST, **overrides}},
        "inventory_hostname": "app1",
        "ansible_managed": "managed",
    }
    return Templar(loader=loader, variables=variables)


def load_config(tmp_path, text: str) -> dict:
    """The rendered preau.toml through the app's own loader (app/src/preau/config.py)."""
    path = tmp_path / "preau.toml"
    path.write_text(text)
    module = _app_config()
    return module.load(str(path), environ={})


def _app_config():
    import importlib.util

    from preau_ops.paths import ROOT

    spec = importlib.util.spec_from_file_location(
        "preau_config_loader", ROOT / "app/src/preau/config.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_off_by_default_nothing_of_federation_is_written():
    text = render("preau.toml.j2")
    assert "federation" not in text and "saml" not in text
    assert "xmlsec" not in render("_hardening.j2")
    assert render("_hardening.j2") == render("_hardening.j2", app_federation_enabled=False)


def test_on_the_app_accepts_the_section_and_it_names_the_roles_files(tmp_path):
    text = render("preau.toml.j2", **ON)
    federation = tomllib.loads(text)["federation"]
    assert set(federation) <= set(app_defaults()["federation"])
    loaded = load_config(tmp_path, text)["federation"]
    assert loaded == {**app_defaults()["federation"], **federation}
    assert federation["sp_entity_id"] == "https://ent.example.fr/federation/metadonnees/"
    assert federation["base_url"] == "https://ent.example.fr"
    assert federation["sp_key_file"] == f"{SIGNING}.key"
    assert federation["sp_cert_file"] == f"{SIGNING}.crt"
    assert federation["sp_additional_cert_files"] == []
    assert federation["educonnect_metadata"] == "/srv/preau/shared/saml/educonnect.xml"
    assert federation["educonnect_metadata_url"] == federation["educonnect_metadata_cert"] == ""
    assert federation["agents_metadata_cert"] == "/etc/preau/saml/agents-metadata.crt"
    assert federation["agents_join_attribute"] == "ENTPersonJointure"
    assert federation["gar_sp_metadata"] == "/srv/preau/shared/saml/gar-sp.xml"
    assert federation["gar_want_signed_requests"] is True
    assert federation["gar_export_dir"] == "/srv/preau/shared/gar"
    hardening = render("_hardening.j2", **ON)
    assert "/srv/preau/shared/saml /srv/preau/shared/gar" in hardening


def test_a_rotation_publishes_a_second_certificate_file():
    text = render("preau.toml.j2", **ON, vault_saml_published_certs=[NEXT])
    federation = tomllib.loads(text)["federation"]
    assert federation["sp_additional_cert_files"] == [PUBLISHED]


def test_the_gar_alone_and_an_idp_left_out():
    only_gar = {**ON, "app_federation_educonnect": {}, "app_federation_agents": {}}
    federation = tomllib.loads(render("preau.toml.j2", **only_gar))["federation"]
    assert federation["educonnect_entity_id"] == federation["educonnect_metadata"] == ""
    assert federation["agents_entity_id"] == ""
    assert federation["gar_ent_id"] == "ENT-PREAU"


@pytest.mark.parametrize("variable", ["app_federation_educonnect", "app_federation_gar"])
def test_every_federation_variable_is_declared_and_documented(variable):
    import yaml

    specs = yaml.safe_load((APP / "meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((APP / "defaults/main.yml").read_text())
    federation = {k for k in defaults if k.startswith("app_federation_")}
    assert federation <= set(options)
    assert options[variable]["type"] == "dict" and defaults[variable] == {}
    assert options["app_federation_signing_key"]["no_log"] is True


def task_loops(**overrides) -> dict[str, list]:
    """Each task of tasks/federation*.yml that loops: its items, as Ansible computes them."""
    import yaml
    from ansible.template import trust_as_template

    tasks = [
        task
        for name in ("federation.yml", "federation_retire.yml")
        for task in yaml.safe_load((APP / "tasks" / name).read_text())
    ]
    engine = templar(**overrides)
    return {
        task["name"]: engine.template(trust_as_template(task["loop"]))
        for task in tasks
        if "loop" in task
    }


def test_the_tasks_write_the_pair_and_remove_what_a_finished_rotation_published():
    old = f"/etc/preau/saml/signing-{pki.saml_file_id(NEXT)}"
    found = [PUBLISHED, f"{SIGNING}.crt", f"{SIGNING}.key", f"{old}.crt", f"{old}.key"]
    stale = {"files": [{"path": path} for path in found]}
    during = task_loops(**ON, vault_saml_published_certs=[NEXT], app_federation_found=stale)
    certificates = during[
        "Install the SAML signing certificate and those published beside it (a rotation)"
    ]
    assert [path for path, _ in certificates] == [f"{SIGNING}.crt", PUBLISHED]
    # during the overlap only the old pair's files go; after retire, the published one too
    removed = "Remove those no longer used (a rotation's switch and retire phases)"
    assert sorted(during[removed]) == [f"{old}.crt", f"{old}.key"]
    after = task_loops(**ON, app_federation_found=stale)
    assert sorted(after[removed]) == sorted([PUBLISHED, f"{old}.crt", f"{old}.key"])
    directories = {
        d["path"]: (d["owner"], d["mode"]) for d in after["Create the federation directories"]
    }
    assert directories == {
        "/etc/preau/saml": ("root", "0755"),
        "/srv/preau/shared/saml": ("preau", "0750"),
        "/srv/preau/shared/gar": ("preau", "0750"),
    }
    assert [i["key"] for i in after["Write the IdPs' metadata"]] == ["educonnect", "agents"]
    signed = after["Install the certificates that sign the IdPs' published metadata"]
    assert [i["key"] for i in signed] == ["agents"]


def test_the_argument_spec_takes_the_defaults_and_refuses_an_unknown_key():
    """Ansible validates the role's arguments before its tasks: the default {} (off) must pass
    (a required sub-option would refuse it on every platform), a misspelt key must not."""
    import yaml
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    def bare(options: dict) -> dict:
        return {
            name: {
                k: bare(v) if k == "options" else v for k, v in spec.items() if k != "description"
            }
            for name, spec in options.items()
        }

    specs = yaml.safe_load((APP / "meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    validator = ArgumentSpecValidator(bare({k: v for k, v in options.items() if "federation" in k}))
    defaults = {
        k: {} for k in ("app_federation_educonnect", "app_federation_agents", "app_federation_gar")
    }
    assert validator.validate(defaults).error_messages == []
    assert (
        validator.validate({k: v for k, v in ON.items() if k.startswith("app_")}).error_messages
        == []
    )
    misspelt = validator.validate({"app_federation_gar": {"entity_id": "x"}}).error_messages
    assert misspelt and "entity_id" in misspelt[0]


def failed_checks(**overrides) -> list[str]:
    """The conditions of tasks/federation.yml's first task (the settings' check) that fail."""
    import yaml
    from ansible.template import trust_as_template

    check = yaml.safe_load((APP / "tasks/federation.yml").read_text())[0]["ansible.builtin.assert"]
    engine = templar(**overrides)
    return [
        condition
        for condition in check["that"]
        if not engine.template(trust_as_template("{{ (" + condition + ") | bool }}"))
    ]


def test_the_role_refuses_federation_without_the_pair_or_the_metadata():
    assert failed_checks(**ON) == []
    no_pair = {k: v for k, v in ON.items() if not k.startswith("vault_saml")}
    assert len(failed_checks(**no_pair)) == 2  # pki saml-init not run
    url_without_cert = {**ON, "app_federation_agents": {**ON["app_federation_agents"]}}
    del url_without_cert["app_federation_agents"]["metadata_cert"]
    assert len(failed_checks(**url_without_cert)) == 1
    gar_without_ent_id = {**ON, "app_federation_gar": {"idp_entity_id": "x", "sp_metadata": "<x/>"}}
    assert len(failed_checks(**gar_without_ent_id)) == 1
