"""The app role writes every key of the app's [retention] and [jobs]
(roles/app/templates/preau.toml.j2), each from a variable of the role's defaults holding the
app's own default and declared in its argument spec: a retention limit or a job's limit added
to the app and forgotten by the role would silently run on the app's default on the servers,
out of the operators' sight."""

from __future__ import annotations

import importlib.util
import re

import pytest
import yaml

from preau_ops.paths import ROLES, ROOT

APP_ROLE = ROLES / "app"


def app_defaults() -> dict:
    """app/src/preau/config.py's DEFAULTS, read from this tree's file (stdlib only)."""
    spec = importlib.util.spec_from_file_location(
        "preau_config_of_this_tree", ROOT / "app/src/preau/config.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DEFAULTS


def template_section(name: str) -> dict[str, str]:
    """key → the variable the template writes there, in section [name]."""
    text = (APP_ROLE / "templates/preau.toml.j2").read_text()
    section = re.search(rf"^\[{name}\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert section, name
    return dict(re.findall(r"^(\w+) = \{\{ (\w+) \| int \}\}$", section.group(1), re.M))


@pytest.mark.parametrize("section", ["retention", "jobs"])
def test_the_role_writes_every_key_with_the_apps_default(section):
    written = template_section(section)
    defaults = yaml.safe_load((APP_ROLE / "defaults/main.yml").read_text())
    specs = yaml.safe_load((APP_ROLE / "meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    app = app_defaults()[section]
    assert set(written) == set(app)
    for key, value in app.items():
        variable = written[key]
        assert variable == f"app_{section}_{key}"
        assert defaults[variable] == value, variable
        assert options[variable]["type"] == "int", variable
