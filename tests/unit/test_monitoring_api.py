"""Prometheus' and Alertmanager's doors (issue #23 item 5): how the bundle's tools ask their
APIs (preau_ops/monitoring_api.py) and the bcrypt hash of their web configuration
(roles/monitoring/filter_plugins/preau_bcrypt.py), stable while the password is."""

import base64
import importlib.util
import io

import bcrypt
import pytest

from preau_ops import monitoring_api
from preau_ops.errors import OpsError
from preau_ops.inventory import Host
from preau_ops.paths import ROLES


def _bcrypt_filter():
    spec = importlib.util.spec_from_file_location(
        "preau_bcrypt", ROLES / "monitoring/filter_plugins/preau_bcrypt.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.preau_bcrypt


preau_bcrypt = _bcrypt_filter()


def _ops(**extra) -> Host:
    return Host(
        "ops",
        ["monitoring"],
        {"ansible_host": "172.30.82.41", "preau_private_address": "10.0.2.41", **extra},
    )


def test_the_command_quotes_the_path_and_knows_only_the_two_servers() -> None:
    path = "/api/v1/query?query=up{job='node'}"
    assert monitoring_api.command("prometheus", path) == (
        "/usr/local/sbin/preau-monitoring-api prometheus '/api/v1/query?query=up{job='\"'\"'node'\"'\"'}'"
    )
    with pytest.raises(ValueError):
        monitoring_api.command("grafana", "/api/health")


def test_urls_are_https_on_the_private_address_with_the_declared_port() -> None:
    assert monitoring_api.url(_ops(), "prometheus") == "https://10.0.2.41:9090/"
    ops = _ops(preau_private_address="fd00::41", monitoring_alertmanager_port=19093)
    assert monitoring_api.url(ops, "alertmanager", "/api/v2/status") == (
        "https://[fd00::41]:19093/api/v2/status"
    )


def test_a_vault_without_the_password_is_named() -> None:
    with pytest.raises(OpsError) as refused:
        monitoring_api.credentials(_ops())
    assert "vault_monitoring_web_password" in refused.value.message


def test_requests_carry_the_credentials_unless_told_not_to(monkeypatch) -> None:
    sent = []

    def urlopen(request, timeout, context):
        sent.append(request)
        return io.BytesIO(b'{"status": "success"}')

    monkeypatch.setattr(monitoring_api.urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(monitoring_api, "tls_context", lambda host: None)
    ops = _ops(vault_monitoring_web_password="s3cret", monitoring_web_user="ops-team")
    assert monitoring_api.request(ops, "prometheus", "/api/v1/alerts") == {"status": "success"}
    token = base64.b64encode(b"ops-team:s3cret").decode()
    assert sent[0].get_header("Authorization") == f"Basic {token}"
    assert sent[0].full_url == "https://10.0.2.41:9090/api/v1/alerts"
    monitoring_api.request(ops, "alertmanager", "/api/v2/alerts", data=[{}], authenticated=False)
    assert sent[1].get_header("Authorization") is None and sent[1].get_method() == "POST"


def test_the_hash_is_kept_while_the_password_is_the_same() -> None:
    first = preau_bcrypt("s3cret")
    assert first.startswith("$2b$") and bcrypt.checkpw(b"s3cret", first.encode())
    assert preau_bcrypt("s3cret", first) == first  # a second converge changes nothing
    changed = preau_bcrypt("n3w", first)
    assert changed != first and bcrypt.checkpw(b"n3w", changed.encode())
    assert preau_bcrypt("s3cret", "not a hash").startswith("$2b$")
    with pytest.raises(ValueError):
        preau_bcrypt("x" * 73)
