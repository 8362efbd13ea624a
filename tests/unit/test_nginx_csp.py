"""The nginx role's Content-Security-Policy as Ansible renders its default: form-action is the
ENT itself, plus the origins an identity provider's answer is posted to (the GAR's)."""

from __future__ import annotations

import yaml

from preau_ops.paths import ROLES

DEFAULTS = yaml.safe_load((ROLES / "nginx" / "defaults" / "main.yml").read_text())


def csp(**overrides) -> str:
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    templar = Templar(loader=DataLoader(), variables={**DEFAULTS, **overrides})
    return templar.template(trust_as_template(DEFAULTS["nginx_content_security_policy"]))


def test_forms_post_to_the_ent_only_by_default():
    assert "form-action 'self'; frame-ancestors 'none'" in csp()


def test_the_gar_s_origin_is_allowed_to_receive_a_form():
    origins = ["https://idp-auth.gar.education.fr"]
    assert "form-action 'self' https://idp-auth.gar.education.fr; frame-ancestors 'none'" in csp(
        nginx_form_action_origins=origins
    )
