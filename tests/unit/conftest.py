"""Fixtures for inventory tests: a writable copy of the production example, with a vault."""

import shutil

import pytest
import yaml

from preau_ops.paths import INVENTORIES

VAULT_PASSWORD = "unit-test-vault-password"


def encrypt(text: str, password: str = VAULT_PASSWORD) -> bytes:
    from ansible.parsing.vault import VaultLib, VaultSecret

    return VaultLib([("default", VaultSecret(password.encode()))]).encrypt(text.encode())


@pytest.fixture
def prod(tmp_path, monkeypatch):
    """inventories/production copied to tmp, its vault made from vault.yml.example."""
    target = tmp_path / "production"
    shutil.copytree(INVENTORIES / "production", target)
    example = target / "group_vars/all/vault.yml.example"
    keys = yaml.safe_load(example.read_text()) or {}
    secrets = {key: f"test-secret-{i:02d}-long-enough" for i, key in enumerate(keys)}
    (target / "group_vars/all/vault.yml").write_bytes(encrypt(yaml.safe_dump(secrets) or "{}\n"))
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD + "\n")
    monkeypatch.setenv("PREAU_VAULT_PASSWORD_FILE", str(password_file))
    return target


def edit_yaml(path, change):
    data = yaml.safe_load(path.read_text()) or {}
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
